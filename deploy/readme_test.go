package deploy

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/veche-sync/veche/server/store"
)

// The README's "Run a relay" commands, in the order a volunteer runs them.
var readmeSteps = []string{"install", "council", "watch", "backup", "check", "restore"}

// readmeBlocks returns the shell blocks of README.md marked
// <!-- tested: NAME --> by name.
func readmeBlocks(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, m := range regexp.MustCompile("(?s)<!-- tested: (\\w+) -->\n```sh\n(.*?)```").FindAllStringSubmatch(string(raw), -1) {
		blocks[m[1]] = m[2]
	}
	return blocks
}

// TestRunARelayReadme runs the README's "Run a relay" commands as written,
// as root, in private mount and network namespaces: /etc is an overlay
// and /usr/local/bin, /var/lib and /run are empty tmpfs, so the host is
// left alone, and port 443 is the namespace's own. sudo, systemctl and
// journalctl are stand-ins (deploy/testdata/bin): no systemd runs here;
// the systemctl one runs the installed unit's ExecStart with its
// Environment, EnvironmentFile, LoadCredential and StateDirectory. The
// binary is the amd64 one `make release` builds, as the Pi would get the
// arm64 one.
func TestRunARelayReadme(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("the README test needs root (CI runs as root) for its private namespaces")
	}
	blocks := readmeBlocks(t)
	work := t.TempDir()
	dist := filepath.Join(work, "dist")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	mk := exec.CommandContext(ctx, "make", "-s", "release", "DIST="+dist)
	mk.Dir = ".."
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	// What the volunteer copied to the Pi (the amd64 binary here).
	pi := filepath.Join(work, "pi")
	os.Mkdir(pi, 0o755)
	for src, dst := range map[string]string{
		filepath.Join(dist, "veche-linux-amd64"): "veche-linux-amd64",
		filepath.Join(dist, "SHA256SUMS"):        "SHA256SUMS",
		"veche.service":                          "veche.service",
		"tls.conf":                               "tls.conf",
		"veche-backup.service":                   "veche-backup.service",
		"veche-backup.timer":                     "veche-backup.timer",
	} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(pi, dst), b, 0o755)
	}
	var driver strings.Builder
	driver.WriteString("set -euo pipefail\ntrap 'systemctl stop veche >/dev/null 2>&1 || true' EXIT\n")
	for _, step := range readmeSteps {
		block, ok := blocks[step]
		if !ok {
			t.Fatalf("README.md has no block marked <!-- tested: %s -->", step)
		}
		path := filepath.Join(work, step+".sh")
		os.WriteFile(path, []byte(block), 0o644)
		driver.WriteString("echo '=== " + step + "'\nbash -euxo pipefail " + path + "\n")
	}
	driver.WriteString("echo '=== done'\n")
	os.WriteFile(filepath.Join(work, "driver.sh"), []byte(driver.String()), 0o644)

	bin, _ := filepath.Abs(filepath.Join("testdata", "bin"))
	upper, wd := filepath.Join(work, "etc-upper"), filepath.Join(work, "etc-work")
	os.Mkdir(upper, 0o755)
	os.Mkdir(wd, 0o755)
	setup := strings.Join([]string{
		"set -euo pipefail",
		"ip link set lo up",
		"mount -t overlay overlay -o lowerdir=/etc,upperdir=" + upper + ",workdir=" + wd + " /etc",
		"mount -t tmpfs tmpfs /usr/local/bin",
		"mount -t tmpfs tmpfs /var/lib",
		"mount -t tmpfs tmpfs /run",
		"cd " + pi,
		"exec bash " + filepath.Join(work, "driver.sh"),
	}, "\n")
	cmd := exec.CommandContext(ctx, "unshare", "--mount", "--net", "--propagation", "private", "/bin/bash", "-c", setup)
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "HOME="+filepath.Join(work, "home"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("README commands:\n%s", out.String())
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out.String()), "=== done") {
		t.Fatalf("the README's commands failed: %v", err)
	}
	log := out.String()
	for _, want := range []string{
		`veche-linux-amd64: OK`,
		`"status":"ok"`,                      // curl https://localhost/healthz, twice
		`Council founded: Riverside growers`, // veche council create
		`scheme=https`,                       // journalctl: the relay serves TLS on 443
		`veche_connections_total{kind="member"}`,
		`through the relay at https://127.0.0.1:443`,
		`All good: the relay can start.`,
		`returned).`,
		`Restored `,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the README's commands did not print %q", want)
		}
	}
	if !regexp.MustCompile(`veche-\d{4}-\d{2}-\d{2}\.tar`).MatchString(log) {
		t.Error("the nightly backup service wrote no veche-YYYY-MM-DD.tar")
	}
	// The backup the README took is a sound archive.
	f, err := os.Open(filepath.Join(pi, "veche-backup.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := store.ReadBackup(ctx, f, io.Discard); err != nil {
		t.Fatalf("the README's backup: %v", err)
	}
}
