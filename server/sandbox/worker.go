package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"os"

	"github.com/automerge/automerge-go"
)

// workerEnv marks a process started by a Pool as a worker.
const workerEnv = "VECHE_SANDBOX_WORKER"

// RunIfWorker turns the process into a sandbox worker when a Pool started
// it, and never returns then; otherwise it returns at once. Every program
// that runs a Pool calls it first thing in main (and test binaries in
// TestMain), because a Pool starts its workers by running its own
// executable again.
func RunIfWorker() {
	if os.Getenv(workerEnv) != "1" {
		return
	}
	if err := serveWorker(os.Stdin, os.Stdout); err != nil && err != io.EOF {
		fmt.Fprintln(os.Stderr, "sandbox worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveWorker answers requests until r ends. It holds one mirror
// document per id the parent opened.
func serveWorker(r io.Reader, w io.Writer) error {
	in := bufio.NewReaderSize(r, 64<<10)
	out := bufio.NewWriter(w)
	docs := make(map[string]*automerge.Doc)
	for {
		op, payload, err := readFrame(in)
		if err != nil {
			return err
		}
		fields, err := splitFields(payload)
		if err != nil {
			return err
		}
		status, text := handle(docs, op, fields)
		if err := writeFrame(out, status, []byte(text)); err != nil {
			return err
		}
	}
}

func handle(docs map[string]*automerge.Doc, op byte, fields [][]byte) (byte, string) {
	if op == opPing {
		return replyOK, ""
	}
	if len(fields) < 1 {
		return replyRejected, "no document id"
	}
	id := string(fields[0])
	switch op {
	case opOpen:
		delete(docs, id)
		doc, err := load(fields[1:])
		if err != nil {
			return replyRejected, err.Error()
		}
		docs[id] = doc
		return replyOK, ""
	case opCheck, opProbe:
		doc := docs[id]
		if doc == nil || len(fields) != 2 {
			return replyRejected, "sandbox: check of a document that is not open"
		}
		// The relay's own sync state for the peer is not mirrored: a fresh
		// one runs the same decoding and the same apply_changes on the same
		// document. The answer is not generated here: what generation reads
		// of the message (haves, bloom filters) the relay validates in Go
		// first, and generating for every message would cost more than the
		// relay spends on a change (see server/doc.go).
		st := automerge.NewSyncState(doc)
		if _, err := st.ReceiveMessage(fields[1]); err != nil {
			delete(docs, id) // a refused message may have applied part of itself
			return replyRejected, err.Error()
		}
		if op == opProbe {
			st.GenerateMessage()
		}
		return replyOK, ""
	case opApply:
		doc := docs[id]
		if doc == nil || len(fields) != 2 {
			return replyRejected, "sandbox: apply to a document that is not open"
		}
		if err := doc.LoadIncremental(fields[1]); err != nil {
			delete(docs, id)
			return replyRejected, err.Error()
		}
		return replyOK, ""
	case opForget:
		delete(docs, id)
		return replyOK, ""
	default:
		return replyRejected, fmt.Sprintf("sandbox: unknown op %q", op)
	}
}

// load rebuilds a document from a snapshot (or nothing) and chunks, as the
// relay does.
func load(parts [][]byte) (*automerge.Doc, error) {
	doc := automerge.New()
	for i, p := range parts {
		if len(p) == 0 {
			continue
		}
		if i == 0 {
			d, err := automerge.Load(p)
			if err != nil {
				return nil, fmt.Errorf("snapshot: %w", err)
			}
			doc = d
			continue
		}
		if err := doc.LoadIncremental(p); err != nil {
			return nil, fmt.Errorf("chunk %d: %w", i-1, err)
		}
	}
	return doc, nil
}
