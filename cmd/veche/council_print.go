package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
)

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer) *table {
	return &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		cells[i] = strings.ReplaceAll(strings.ReplaceAll(c, "\t", " "), "\n", " ")
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() { t.tw.Flush() }

// stamp formats a time for tables, in local time to the minute.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Local().Format("2006-01-02 15:04")
}

func stampPtr(t *time.Time) string {
	if t == nil {
		return ""
	}
	return stamp(*t)
}

// num formats a quantity without needless decimals.
func num(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func percent(f float64) string { return num(f*100) + "%" }

func ruleText(r crdt.Rule) string {
	return fmt.Sprintf("quorum %s of the members, yes must exceed %s of yes+no", percent(r.Quorum), percent(r.Majority))
}

// closingText says when a proposal is decided.
func closingText(p crdt.Proposal) string {
	if p.ClosesAt != nil {
		return "open until " + stamp(*p.ClosesAt)
	}
	return "open until every member has voted"
}

// outcomeText is a proposal's outcome with its tally.
func outcomeText(p crdt.Proposal) string {
	t := p.Tally
	s := fmt.Sprintf("%s (%d yes, %d no, %d abstain of %d)", p.Outcome, t.Yes, t.No, t.Abstain, t.Electorate)
	if p.Outcome == crdt.OutcomeOpen {
		s += ", " + closingText(p)
	}
	return s
}

// section prints a heading and a table if rows is not empty.
func section(w io.Writer, title string, header []string, rows [][]string, always bool) {
	if len(rows) == 0 && !always {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	if len(rows) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	t := newTable(w)
	t.row(header...)
	for _, r := range rows {
		t.row(r...)
	}
	t.flush()
}

// printCouncil prints a council as tables.
func printCouncil(w io.Writer, v *api.CouncilView) {
	c := v.Council
	fmt.Fprintf(w, "%s — %s council%s\n", c.Name, c.Kind, prefixed(", ", c.Region))
	t := newTable(w)
	t.row("  id", v.ID)
	t.row("  url", v.URL)
	t.row("  founded", stamp(c.CreatedAt))
	t.row("  rule", ruleText(c.Rule))
	t.flush()

	var rows [][]string
	header := []string{"ID", "NAME", "ROLE", "JOINED", "STATUS"}
	delegates := slices.ContainsFunc(v.Members, func(m crdt.Member) bool { return m.SentBy != nil })
	if delegates {
		header = append(header, "SENT BY")
	}
	for _, m := range v.Members {
		status := "active"
		if !m.Active {
			status = "left " + stampPtr(m.LeftAt)
		}
		row := []string{m.ID, m.Name, m.Role, stamp(m.JoinedAt), status}
		if m.SentBy != nil {
			row = append(row, m.SentBy.Council+" (mandate "+m.SentBy.Mandate+")")
		}
		rows = append(rows, row)
	}
	section(w, "MEMBERS", header, rows, true)

	rows = nil
	for _, p := range v.Proposals {
		closes := stampPtr(p.ClosesAt)
		if p.ClosedAt != nil {
			closes = "closed " + stamp(*p.ClosedAt)
		} else if closes == "" {
			closes = "when all voted"
		}
		t := p.Tally
		rows = append(rows, []string{p.ID, string(p.Kind), p.Title, memberName(v, p.By), string(p.Outcome),
			fmt.Sprintf("%d/%d/%d of %d", t.Yes, t.No, t.Abstain, t.Electorate), closes})
	}
	section(w, "PROPOSALS", []string{"ID", "KIND", "TITLE", "BY", "OUTCOME", "YES/NO/ABSTAIN", "CLOSES"}, rows, true)

	rows = nil
	for _, m := range v.Mandates {
		rows = append(rows, []string{m.ID, memberName(v, m.Delegate), m.Task, m.Body, string(m.Status), strconv.Itoa(len(m.Reports)), m.Proposal})
	}
	section(w, "MANDATES", []string{"ID", "DELEGATE", "TASK", "ACTS IN", "STATUS", "REPORTS", "PROPOSAL"}, rows, false)

	rows = nil
	for _, o := range v.Exchange.Offers {
		rows = append(rows, []string{o.ID, o.Item, num(o.Quantity) + " " + o.Unit, memberName(v, o.By), window(o.From, o.Until), withdrawn(o.Withdrawn), o.Note})
	}
	section(w, "OFFERS", []string{"ID", "ITEM", "QUANTITY", "BY", "WHEN", "STATUS", "NOTE"}, rows, false)

	rows = nil
	for _, n := range v.Exchange.Needs {
		status := withdrawn(n.Withdrawn)
		if n.Met && !n.Withdrawn {
			status = "met"
		}
		rows = append(rows, []string{n.ID, n.Item, num(n.Quantity) + " " + n.Unit, num(n.Pledged), num(n.Remaining), memberName(v, n.By), window(n.From, n.Until), status})
	}
	section(w, "NEEDS", []string{"ID", "ITEM", "QUANTITY", "PLEDGED", "REMAINING", "BY", "WHEN", "STATUS"}, rows, false)

	rows = nil
	for _, p := range v.Exchange.Pledges {
		from := memberName(v, p.By)
		if p.Council != "" {
			from = p.By + " of " + p.Council
		}
		rows = append(rows, []string{p.ID, p.Need, num(p.Quantity) + " " + p.Unit, from, p.Offer, stamp(p.At)})
	}
	section(w, "PLEDGES", []string{"ID", "NEED", "QUANTITY", "FROM", "OFFER", "AT"}, rows, false)

	rows = nil
	for _, l := range v.Federation.MemberOf {
		rows = append(rows, []string{"member of", l.Council, stamp(l.Since)})
	}
	for _, l := range v.Federation.Members {
		rows = append(rows, []string{"member council", l.Council, stamp(l.Since)})
	}
	section(w, "FEDERATION", []string{"LINK", "COUNCIL", "SINCE"}, rows, false)

	rows = nil
	for _, m := range v.Minutes {
		rows = append(rows, []string{m.ID, stamp(m.At), m.Title, memberName(v, m.By), firstLine(m.Notes, 50)})
	}
	section(w, "MINUTES", []string{"ID", "HELD", "TITLE", "BY", "NOTES"}, rows, false)

	rows = nil
	for _, p := range v.Problems {
		rows = append(rows, []string{p.Path, p.Message})
	}
	section(w, "PROBLEMS (the document has data this relay could not read)", []string{"PATH", "PROBLEM"}, rows, false)
}

// printHistory prints a council's changes as a table.
func printHistory(w io.Writer, h api.HistoryAnswer) {
	t := newTable(w)
	t.row("TIME", "OPERATION", "BY", "DETAILS")
	for _, e := range h.Changes {
		op, by := string(e.Op), e.ByName
		if op == "" {
			op = "(" + firstLine(e.Message, 40) + ")"
		}
		if by == "" {
			by = e.By
		}
		if by == "" && e.Op == "" {
			by = "actor " + e.Actor[:min(8, len(e.Actor))]
		}
		keys := make([]string, 0, len(e.Args))
		for k := range e.Args {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var details []string
		for _, k := range keys {
			details = append(details, k+"="+e.Args[k])
		}
		t.row(stamp(e.Time), op, by, strings.Join(details, " "))
	}
	t.flush()
}

func window(from, until *time.Time) string {
	if from == nil && until == nil {
		return ""
	}
	return stampPtr(from) + " – " + stampPtr(until)
}

func withdrawn(w bool) string {
	if w {
		return "withdrawn"
	}
	return "open"
}

// firstLine is the first line of s, cut to n characters.
func firstLine(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		s, cut = string(r[:n]), true
	}
	if cut {
		s += "…"
	}
	return s
}
