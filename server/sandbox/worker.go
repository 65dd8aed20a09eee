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
	states := make(map[string]map[string]*automerge.SyncState) // per document, per peer
	for {
		op, payload, err := readFrame(in)
		if err != nil {
			return err
		}
		fields, err := splitFields(payload)
		if err != nil {
			return err
		}
		status, text := handle(docs, states, op, fields)
		if err := writeFrame(out, status, []byte(text)); err != nil {
			return err
		}
	}
}

func handle(docs map[string]*automerge.Doc, states map[string]map[string]*automerge.SyncState, op byte, fields [][]byte) (byte, string) {
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
		delete(states, id)
		doc, err := load(fields[1:])
		if err != nil {
			return replyRejected, err.Error()
		}
		docs[id] = doc
		return replyOK, ""
	case opCheck, opReceive:
		doc := docs[id]
		if doc == nil || len(fields) != 3 {
			return replyRejected, "sandbox: check of a document that is not open"
		}
		// The peer's sync state lives here as long as the relay's does, so
		// the answer generated below, like the relay's, carries only what
		// the peer has not been sent. A peer of "" gets a fresh state.
		st := state(docs, states, id, string(fields[1]))
		if _, err := st.ReceiveMessage(fields[2]); err != nil {
			// A refused message may have applied part of itself.
			delete(docs, id)
			delete(states, id)
			return replyRejected, err.Error()
		}
		if op == opCheck {
			// Generating reads what the message announced (haves, needs,
			// bloom filters) and the history it added; either can crash
			// the core there and only there (corpus: automerge.rs:916,
			// sync/bloom.rs:74), after the message was applied.
			st.GenerateMessage()
		}
		return replyOK, ""
	case opLeave:
		if len(fields) == 2 {
			delete(states[id], string(fields[1]))
		}
		return replyOK, ""
	case opApply:
		doc := docs[id]
		if doc == nil || len(fields) != 2 {
			return replyRejected, "sandbox: apply to a document that is not open"
		}
		if err := doc.LoadIncremental(fields[1]); err != nil {
			delete(docs, id)
			delete(states, id)
			return replyRejected, err.Error()
		}
		return replyOK, ""
	case opForget:
		delete(docs, id)
		delete(states, id)
		return replyOK, ""
	default:
		return replyRejected, fmt.Sprintf("sandbox: unknown op %q", op)
	}
}

// state returns the sync state of peer for document id, making it.
func state(docs map[string]*automerge.Doc, states map[string]map[string]*automerge.SyncState, id, peer string) *automerge.SyncState {
	st := states[id][peer]
	if st == nil {
		st = automerge.NewSyncState(docs[id])
		if peer != "" {
			if states[id] == nil {
				states[id] = make(map[string]*automerge.SyncState)
			}
			states[id][peer] = st
		}
	}
	return st
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
