package interop

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/interop/linksim"
)

// BenchmarkFreshPhone prints what a new phone's first sync of a council
// costs over 20 kbit/s with 300 ms each way, for councils of 1,000, 5,000,
// 20,000 and 30,000 changes (the last larger than a message), against veche and the reference wiring of the
// upstream sync server in the same run (issue 8):
//
//	go test -run '^$' -bench FreshPhone -benchtime 1x -timeout 30m ./interop/
//
// A transfer that does not complete within five minutes is reported as
// such, with the bytes it cost.
func BenchmarkFreshPhone(b *testing.B) {
	link := linksim.Profile{Bandwidth: 20_000, Delay: 300 * time.Millisecond}
	rows := thinLinkRows(b, []thinLinkCase{
		{name: "1,000 changes", changes: 1000, kind: "council", link: link},
		{name: "5,000 changes", changes: 5000, kind: "council", link: link},
		{name: "20,000 changes", changes: 20000, kind: "council", link: link},
		// Past --max-message-bytes: a compressed prefix, then slices of
		// individual changes.
		{name: "30,000 changes", changes: 30000, kind: "council", link: link},
	})
	printRows("new phone over 20 kbit/s, 300 ms each way", rows)
}

// BenchmarkThinLinkScenarios runs the four scenarios of issue 8 at full
// size against veche and the reference wiring, and prints the table:
//
//	go test -run '^$' -bench ThinLinkScenarios -benchtime 1x -timeout 60m ./interop/
func BenchmarkThinLinkScenarios(b *testing.B) {
	rows := thinLinkRows(b, []thinLinkCase{
		{name: "1,000 changes, 20 kbit/s, 300±50 ms, 1% loss", changes: 1000, kind: "council", link: link2G},
		{name: "5,000 changes, same link", changes: 5000, kind: "council", link: link2G},
		{name: "1,000 changes, 10 kbit/s, 800 ms RTT, 1% loss", changes: 1000, kind: "council", link: linkSlow},
		{name: "3,000 changes of 100 characters, 20 kbit/s, 800 ms RTT", changes: 3000, kind: "text", link: linkAlive},
	})
	printRows("issue 8 scenarios, new phone", rows)
}

type thinLinkCase struct {
	name    string
	changes int
	kind    string
	link    linksim.Profile
}

type thinLinkRow struct {
	name      string
	saveBytes int
	veche     joined
	vecheOK   bool
	ref       joined
	refOK     bool
}

func thinLinkRows(b *testing.B, cases []thinLinkCase) []thinLinkRow {
	b.Helper()
	veche := startRelay(b, vecheRelay(b, "--anonymous"), b.TempDir())
	ref := startRelay(b, referenceRelay(b), b.TempDir())
	var rows []thinLinkRow
	for _, c := range cases {
		row := thinLinkRow{name: c.name}
		doc := seed(b, veche.URL(), c.changes, c.kind)
		row.saveBytes = doc.saveBytes
		row.veche, row.vecheOK = tryJoin(b, newLink(b, veche, c.link), doc, 5*time.Minute)
		doc = seed(b, ref.URL(), c.changes, c.kind)
		row.ref, row.refOK = tryJoin(b, newLink(b, ref, c.link), doc, 5*time.Minute)
		fmt.Fprintf(os.Stderr, "%s: veche %s; reference %s\n", c.name, describe(row.veche, row.vecheOK), describe(row.ref, row.refOK))
		rows = append(rows, row)
	}
	return rows
}

// tryJoin is join that reports a transfer that did not finish instead of
// failing.
func tryJoin(b *testing.B, l *linksim.Link, doc seeded, timeout time.Duration, args ...string) (joined, bool) {
	b.Helper()
	start := time.Now()
	p := startPhone(b, "new-phone", "join", linkURL(l), append([]string{"--url", doc.url, "--heads", strings.Join(doc.heads, ","),
		"--timeout-ms", fmt.Sprint(timeout.Milliseconds())}, args...)...)
	var j joined
	ok := false
	for e := range p.events {
		if e.Event == "connected" {
			j.connects++
		}
		if e.Event == "joined" {
			ok = true
			break
		}
		if e.Event == "fatal" {
			break
		}
	}
	j.took = time.Since(start)
	j.down, j.up = l.Bytes()
	return j, ok
}

func describe(j joined, ok bool) string {
	if !ok {
		return fmt.Sprintf("did not complete in %v (%d B down, %d connections)", j.took.Round(time.Second), j.down, j.connects)
	}
	return fmt.Sprintf("%d B down, %d B up, %.1f s, %d connection(s)", j.down, j.up, j.took.Seconds(), j.connects)
}

func printRows(title string, rows []thinLinkRow) {
	fmt.Printf("\n%s\n\n| council | compressed document | veche | reference |\n| --- | --- | --- | --- |\n", title)
	cell := func(j joined, ok bool, save int) string {
		if !ok {
			return fmt.Sprintf("**never completes**: %.1f KB over %.0f s, %d connections", float64(j.down)/1000, j.took.Seconds(), j.connects)
		}
		return fmt.Sprintf("%.1f KB (%.2f×), %.1f s", float64(j.down)/1000, float64(j.down)/float64(save), j.took.Seconds())
	}
	for _, r := range rows {
		fmt.Printf("| %s | %.1f KB | %s | %s |\n", r.name, float64(r.saveBytes)/1000, cell(r.veche, r.vecheOK, r.saveBytes), cell(r.ref, r.refOK, r.saveBytes))
	}
	fmt.Println()
}
