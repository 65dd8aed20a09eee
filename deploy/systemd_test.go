package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// verifyUnit runs `systemd-analyze verify` on unit and returns what it
// printed. verify also checks that ExecStart's program exists, so it runs
// in a private mount namespace where a tmpfs over /usr/local/bin holds a
// stand-in veche: the host is left alone.
func verifyUnit(t *testing.T, unit string) (string, error) {
	t.Helper()
	abs, err := filepath.Abs(unit)
	if err != nil {
		t.Fatal(err)
	}
	script := `mount -t tmpfs tmpfs /usr/local/bin && cp /bin/true /usr/local/bin/veche && exec systemd-analyze verify "$1"`
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script, "verify", abs).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestSystemdUnit checks deploy/veche.service with systemd's own tools:
// verify finds nothing to say about it, and the offline security analysis
// rates its sandboxing "OK" (exposure 2.0 or less of 10). Then it checks
// that the unit and the README's install steps agree.
func TestSystemdUnit(t *testing.T) {
	if out, err := verifyUnit(t, "veche.service"); err != nil || out != "" {
		t.Fatalf("systemd-analyze verify veche.service: %v\n%s", err, out)
	}
	// The check can fail: a misspelt directive is reported.
	raw, err := os.ReadFile("veche.service")
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "veche.service")
	os.WriteFile(bad, []byte(strings.Replace(string(raw), "ProtectSystem=strict", "ProtectSystm=strict", 1)), 0o644)
	if out, _ := verifyUnit(t, bad); !strings.Contains(out, "Unknown key 'ProtectSystm'") {
		t.Fatalf("verify let a misspelt directive through: %q", out)
	}

	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold=20", "veche.service").CombinedOutput()
	level := regexp.MustCompile(`Overall exposure level for veche.service: (\S+ \S+)`).FindSubmatch(out)
	if err != nil || level == nil {
		t.Fatalf("systemd-analyze security: %v (want exposure 2.0 or less)\n%s", err, out)
	}
	t.Logf("systemd-analyze security: exposure %s", level[1])

	dirs := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			if dirs[k] != "" {
				v = dirs[k] + "\n" + v
			}
			dirs[k] = v
		}
	}
	for k, want := range map[string]string{
		"ExecStart":       "/usr/local/bin/veche serve",
		"DynamicUser":     "yes",
		"StateDirectory":  "veche",
		"ProtectSystem":   "strict",
		"EnvironmentFile": "-/etc/veche/veche.env",
	} {
		if dirs[k] != want {
			t.Errorf("%s=%q, want %q", k, dirs[k], want)
		}
	}
	// The relay's data is the state directory systemd makes for it.
	if !strings.Contains(dirs["Environment"], "VECHE_DATA=/var/lib/veche") {
		t.Errorf("Environment %q: VECHE_DATA must be /var/lib/<StateDirectory>", dirs["Environment"])
	}
}
