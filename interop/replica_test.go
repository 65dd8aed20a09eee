package interop

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/api"
	"github.com/veche-sync/veche/crdt"
	"github.com/veche-sync/veche/server/bundle"
	"github.com/veche-sync/veche/server/wire"
)

// cli runs the veche binary as a person at one computer would: with a
// config directory (VECHE_HOME) of their own and an environment.
type cli struct {
	t   *testing.T
	bin string
	env map[string]string
}

func newCLI(t *testing.T, env map[string]string) *cli {
	t.Helper()
	return &cli{t: t, bin: buildVeche(t), env: env}
}

// run runs veche args and returns its output and exit code.
func (c *cli) run(args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range c.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("veche %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// ok runs a command line that must succeed.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("veche %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out + errOut
}

// fails runs a command line that must exit with code, saying want.
func (c *cli) fails(code int, want string, args ...string) {
	c.t.Helper()
	out, errOut, got := c.run(args...)
	if got != code || !strings.Contains(errOut, want) {
		c.t.Fatalf("veche %s: exit %d, %q %q; want exit %d and %q", strings.Join(args, " "), got, out, errOut, code, want)
	}
}

// jsonOf runs a command line with --json and decodes what it printed.
func (c *cli) jsonOf(out any, args ...string) {
	c.t.Helper()
	stdout, errOut, code := c.run(append(args, "--json")...)
	if code != 0 {
		c.t.Fatalf("veche %s --json: exit %d %s", strings.Join(args, " "), code, errOut)
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		c.t.Fatalf("veche %s --json printed %q: %v", strings.Join(args, " "), stdout, err)
	}
}

var proposalMade = regexp.MustCompile(`Proposal (\S+) made`)

// council founds a council on r through REST and returns the answer.
func council(t *testing.T, r *relay, name, founder string) api.CreateCouncilAnswer {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(r.dataDir, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	var created api.CreateCouncilAnswer
	rest(t, r, strings.TrimSpace(string(raw)), "POST", "/api/councils", obj{"name": name, "kind": "farmers", "founder": obj{"name": founder, "role": "small-farmer"}}, &created)
	return created
}

// member invites name into the council (as the founder) and returns their
// member id and token.
func member(t *testing.T, r *relay, founderToken, councilID, name string) api.AcceptInviteAnswer {
	t.Helper()
	var invite api.InviteAnswer
	var joined api.AcceptInviteAnswer
	rest(t, r, founderToken, "POST", "/api/councils/"+councilID+"/invites", nil, &invite)
	rest(t, r, "", "POST", "/api/invites/accept", obj{"code": invite.Code, "name": name}, &joined)
	return joined
}

// view is the council as the relay's REST API shows it.
func view(t *testing.T, r *relay, token, id string) api.CouncilView {
	t.Helper()
	var v api.CouncilView
	rest(t, r, token, "GET", "/api/councils/"+id, nil, &v)
	return v
}

// TestReplicaOfflineForAWeekThenSync: a field laptop (the veche CLI with
// its replica) works a week of council business offline — proposals,
// votes, offers, needs, pledges — while a phone (a stock automerge-repo
// client) and a member over REST work on the relay; one `veche sync`
// converges all three, with identical derived outcomes.
func TestReplicaOfflineForAWeekThenSync(t *testing.T) {
	r := startRelay(t, vecheRelay(t), t.TempDir())
	created := council(t, r, "Riverside growers", "Ana")
	ana := created.Token
	ben := member(t, r, ana, created.ID, "Ben")

	// Cai's laptop joins once in reach of the relay, keeping the token in
	// its config directory, never on a command line.
	home := filepath.Join(t.TempDir(), "cai")
	laptop := newCLI(t, map[string]string{"VECHE_HOME": home, "VECHE_RELAY": "http://" + r.addr})
	var invite api.InviteAnswer
	rest(t, r, ana, "POST", "/api/councils/"+created.ID+"/invites", nil, &invite)
	laptop.ok("council", "accept", invite.Code, "--name", "Cai", "--save")

	// Ben's phone, connected all week.
	phone := newClient(t, "ben-phone", r.URL()+"?token="+ben.Token)
	if e := phone.do(obj{"cmd": "find", "url": created.URL, "timeoutMs": 10000}); e.Event != "doc" {
		t.Fatalf("phone find: %s", e)
	}

	// A week offline on the laptop: each day a proposal, Cai's vote on it,
	// an offer; a need on day 1 that Cai pledges against later. Offline
	// commands never dial: point the laptop at a relay that is not there.
	laptop.env["VECHE_RELAY"] = "http://127.0.0.1:1"
	var laptopProposals []string
	need := ""
	for day := 1; day <= 7; day++ {
		out := laptop.ok("council", "propose", "--title", fmt.Sprintf("Day %d: share the tractor", day), "--offline")
		id := proposalMade.FindStringSubmatch(out)[1]
		laptopProposals = append(laptopProposals, id)
		laptop.ok("council", "vote", id, "yes", "--offline")
		laptop.ok("council", "offer", "potatoes", fmt.Sprint(10*day), "kg", "--offline")
		if day == 1 {
			var ans api.WriteAnswer
			laptop.jsonOf(&ans, "council", "need", "salt", "20", "kg", "--offline")
			need = ans.ID
		} else {
			laptop.ok("council", "pledge", need, "1", "--offline")
		}
	}

	// Meanwhile on the relay: Ana proposes and votes over REST; Ben's
	// phone votes and posts an offer with plain document changes, which
	// carry no signed record: they merge everywhere and count nowhere.
	var anaProposal api.WriteAnswer
	rest(t, r, ana, "POST", "/api/councils/"+created.ID+"/proposals", obj{"title": "Mend the mill race"}, &anaProposal)
	rest(t, r, ana, "POST", "/api/councils/"+created.ID+"/proposals/"+anaProposal.ID+"/votes", obj{"choice": "yes"}, nil)
	now := time.Now().UnixMilli()
	phone.do(obj{"cmd": "change", "url": created.URL, "ops": []any{
		obj{"op": "set", "path": []any{"proposals", anaProposal.ID, "votes", ben.Member}, "value": obj{"choice": "no", "at": now}},
		obj{"op": "set", "path": []any{"exchange", "offers", "ben-eggs"}, "value": obj{"by": ben.Member, "item": "eggs", "quantity": 30, "unit": "dozen", "at": now}},
	}})
	phone.do(obj{"cmd": "wait-ack", "url": created.URL})
	before := view(t, r, ana, created.ID)
	for _, id := range laptopProposals {
		if _, ok := before.Proposal(id); ok {
			t.Fatal("the relay holds a proposal the laptop made offline before any sync")
		}
	}

	// One sync, with the relay back in reach.
	laptop.env["VECHE_RELAY"] = "http://" + r.addr
	out := laptop.ok("sync")
	if !strings.Contains(out, "sent ") || strings.Contains(out, "sent 0 ") {
		t.Fatalf("sync: %s", out)
	}

	// Converged: the relay, the phone and the laptop hold the same heads.
	relayView := view(t, r, ana, created.ID)
	got := phone.do(obj{"cmd": "wait-for", "url": created.URL, "heads": relayView.Heads, "timeoutMs": 10000})
	if got.Event != "doc" || !sameHeads(got.Heads, relayView.Heads) {
		t.Fatalf("the phone holds %v, the relay %v", got.Heads, relayView.Heads)
	}
	var laptopView api.CouncilView
	laptop.jsonOf(&laptopView, "council", "show", "--offline")
	if !sameHeads(laptopView.Heads, relayView.Heads) {
		t.Fatalf("the laptop holds %v, the relay %v", laptopView.Heads, relayView.Heads)
	}
	// Derived outcomes identical everywhere: the same document read by
	// the laptop's replica and by the relay.
	laptopView.Now = relayView.Now // when each read it
	a, _ := json.Marshal(laptopView)
	b, _ := json.Marshal(relayView)
	if !bytes.Equal(a, b) {
		t.Fatalf("the laptop and the relay derive different councils:\nlaptop %s\nrelay  %s", a, b)
	}
	if len(relayView.Proposals) != 8 || len(relayView.Exchange.Offers) != 7 {
		t.Fatalf("the relay has %d proposals and %d offers after sync", len(relayView.Proposals), len(relayView.Exchange.Offers))
	}
	n, _ := relayView.Need(need)
	if n.Pledged != 6 {
		t.Fatalf("the need after sync: %+v", n)
	}
	p, _ := relayView.Proposal(anaProposal.ID)
	if p.Tally.Yes != 1 || p.Tally.No != 0 {
		t.Fatalf("Ana's proposal after sync: %+v", p.Tally)
	}
	for _, path := range []string{"/exchange/offers/ben-eggs", "/proposals/" + anaProposal.ID + "/votes/" + ben.Member} {
		if !hasProblem(relayView, path) {
			t.Fatalf("the phone's unsigned write at %s is not reported: %v", path, relayView.Problems)
		}
	}
	// What the laptop did offline counts as Cai's own word: signed with
	// the laptop's key, not the relay's custodial one.
	var history api.HistoryAnswer
	rest(t, r, ana, "GET", "/api/councils/"+created.ID+"/history", nil, &history)
	own := 0
	for _, e := range history.Changes {
		if e.ByName == "Cai" && e.Op != crdt.OpJoin && e.Op != crdt.OpAddKey {
			if !e.Verified || e.Custodial {
				t.Fatalf("an offline fact of the laptop: %+v", e)
			}
			own++
		}
	}
	if own != 7*3+1+6 {
		t.Fatalf("%d facts signed on the laptop, want %d", own, 7*3+1+6)
	}
	// A second sync has nothing to carry.
	if out := laptop.ok("sync"); !strings.Contains(out, "sent 0 change(s), received 0") {
		t.Fatalf("second sync: %s", out)
	}
}

// TestSneakernetVillageToDistrictAndBack: the village laptop and the
// district relay have no link; changes travel as bundle files. The
// village's work reaches the district relay and a phone on it; the phone's
// reaches the village; tampered, truncated, duplicate, out-of-order and
// foreign bundles each get their answer, and change nothing.
func TestSneakernetVillageToDistrictAndBack(t *testing.T) {
	district := startRelay(t, vecheRelay(t), t.TempDir())
	created := council(t, district, "Riverside growers", "Ana")
	ben := member(t, district, created.Token, created.ID, "Ben")
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }

	// In town once: Cai's laptop joins and takes the district's heads home.
	village := newCLI(t, map[string]string{"VECHE_HOME": filepath.Join(dir, "village"), "VECHE_RELAY": "http://" + district.addr})
	var invite api.InviteAnswer
	rest(t, district, created.Token, "POST", "/api/councils/"+created.ID+"/invites", nil, &invite)
	village.ok("council", "accept", invite.Code, "--name", "Cai", "--save")
	heads := village.ok("bundle", "heads", "--offline")
	os.WriteFile(file("district.heads"), []byte(heads), 0o600)
	// From here on the village has no link to the district.
	village.env["VECHE_RELAY"] = "http://127.0.0.1:1"

	// At the district, Ana imports with the CLI; Ben's phone is connected.
	townhall := newCLI(t, map[string]string{"VECHE_RELAY": "http://" + district.addr, "VECHE_TOKEN": created.Token, "VECHE_COUNCIL": created.ID})
	phone := newClient(t, "ben-phone", district.URL()+"?token="+ben.Token)
	phone.do(obj{"cmd": "find", "url": created.URL, "timeoutMs": 10000})

	// Village → district → phone.
	out := village.ok("council", "propose", "--title", "Dig a new well", "--offline")
	well := proposalMade.FindStringSubmatch(out)[1]
	village.ok("council", "vote", well, "yes", "--offline")
	village.ok("bundle", "export", "--offline", "--since", file("district.heads"), "--out", file("v1.bundle"))
	if out := townhall.ok("bundle", "import", file("v1.bundle")); !strings.Contains(out, "Imported 2 new change(s)") {
		t.Fatalf("import at the district: %s", out)
	}
	v := view(t, district, created.Token, created.ID)
	if p, ok := v.Proposal(well); !ok || p.Tally.Yes != 1 {
		t.Fatalf("the district after the bundle: %+v", p)
	}
	seen := clientDoc(t, phone, created.URL, v.Heads)
	if seen.Proposals[well].Title != "Dig a new well" {
		t.Fatalf("the phone sees %+v", seen.Proposals[well])
	}

	// Phone → district → village: Ben's phone writes the proposal's body
	// (collaborative text), Ben votes at the district; the district
	// exports what came after the village's bundle.
	phone.do(obj{"cmd": "change", "url": created.URL, "ops": []any{
		obj{"op": "set", "path": []any{"proposals", well, "body"}, "value": "Near the school."},
	}})
	phone.do(obj{"cmd": "wait-ack", "url": created.URL})
	rest(t, district, ben.Token, "POST", "/api/councils/"+created.ID+"/proposals/"+well+"/votes", obj{"choice": "yes"}, nil)
	townhall.ok("bundle", "export", "--since", file("v1.bundle"), "--out", file("d1.bundle"))
	if out := village.ok("bundle", "import", file("d1.bundle"), "--offline"); !strings.Contains(out, "Imported 2 new change(s)") {
		t.Fatalf("import in the village: %s", out)
	}
	var villageView api.CouncilView
	village.jsonOf(&villageView, "council", "show", "--offline")
	districtView := view(t, district, created.Token, created.ID)
	if !sameHeads(villageView.Heads, districtView.Heads) {
		t.Fatalf("village %v, district %v", villageView.Heads, districtView.Heads)
	}
	if p, _ := villageView.Proposal(well); len(p.Votes) != 2 || p.Tally.Yes != 2 || p.Body != "Near the school." {
		t.Fatalf("the village sees the well proposal as %+v", p)
	}

	// Duplicates: a no-op on both sides.
	if out := townhall.ok("bundle", "import", file("v1.bundle")); !strings.Contains(out, "Nothing new") {
		t.Fatalf("v1 again: %s", out)
	}
	if out := village.ok("bundle", "import", file("d1.bundle"), "--offline"); !strings.Contains(out, "Nothing new") {
		t.Fatalf("d1 again: %s", out)
	}

	// Out of order: v3 continues from v2, which the district lacks.
	mark := file("v1.bundle")
	village.ok("council", "offer", "turnips", "50", "kg", "--offline")
	village.ok("bundle", "export", "--offline", "--since", mark, "--out", file("v2.bundle"))
	village.ok("council", "offer", "beets", "20", "kg", "--offline")
	village.ok("bundle", "export", "--offline", "--since", file("v2.bundle"), "--out", file("v3.bundle"))
	townhall.fails(4, "bundle_out_of_order", "bundle", "import", file("v3.bundle"))

	// Truncated and tampered: refused, exit 4.
	raw, _ := os.ReadFile(file("v2.bundle"))
	os.WriteFile(file("cut.bundle"), raw[:len(raw)-7], 0o600)
	townhall.fails(4, "truncated", "bundle", "import", file("cut.bundle"))
	village.fails(4, "truncated", "bundle", "import", file("cut.bundle"), "--offline")
	altered := bytes.Replace(raw, []byte("turnips"), []byte("TURNIPS"), 1)
	os.WriteFile(file("altered.bundle"), altered, 0o600)
	townhall.fails(4, "bad_bundle", "bundle", "import", file("altered.bundle"))

	// Foreign: another council's bundle is refused whole for a token that
	// may not write it; a bundle that claims this council but carries
	// another's history is refused as foreign.
	hill := council(t, district, "Hill growers", "Zed")
	zed := newCLI(t, map[string]string{"VECHE_RELAY": "http://" + district.addr, "VECHE_TOKEN": hill.Token, "VECHE_COUNCIL": hill.ID})
	zed.ok("bundle", "export", "--out", file("hill.bundle"))
	hillBefore := view(t, district, hill.Token, hill.ID).Heads
	townhall.fails(3, "not_found", "bundle", "import", file("hill.bundle"))
	if got := view(t, district, hill.Token, hill.ID).Heads; !sameHeads(got, hillBefore) {
		t.Fatal("a refused bundle changed the other council")
	}
	hillRaw, _ := os.ReadFile(file("hill.bundle"))
	os.WriteFile(file("claims.bundle"), reheader(t, hillRaw, created.ID), 0o600)
	townhall.fails(4, "bundle_foreign", "bundle", "import", file("claims.bundle"))

	// Nothing refused changed the district; in order, the rest goes in.
	if got := view(t, district, created.Token, created.ID).Heads; !sameHeads(got, districtView.Heads) {
		t.Fatal("a refused bundle changed the council")
	}
	townhall.ok("bundle", "import", file("v2.bundle"))
	townhall.ok("bundle", "import", file("v3.bundle"))
	if v := view(t, district, created.Token, created.ID); len(v.Exchange.Offers) != 2 {
		t.Fatalf("offers after v2 and v3: %+v", v.Exchange.Offers)
	}
}

// reheader rewrites a bundle's header to name council, with a correct
// checksum: what a careless (or hostile) hand could make.
func reheader(t *testing.T, raw []byte, council string) []byte {
	t.Helper()
	nl := bytes.IndexByte(raw, '\n')
	var h bundle.Header
	if err := json.Unmarshal(raw[:nl], &h); err != nil {
		t.Fatal(err)
	}
	payload := raw[nl+1:]
	sum := sha256.Sum256(payload)
	h.Council, h.SHA256 = wire.DocumentID(council), hex.EncodeToString(sum[:])
	head, _ := json.Marshal(h)
	return append(append(head, '\n'), payload...)
}
