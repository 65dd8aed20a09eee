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

// verifyUnits installs the units of dir (veche.service with tls.conf as
// its drop-in, veche-backup.service and .timer) and runs `systemd-analyze
// verify` on them, returning what it printed. verify also checks that
// the programs they start exist, so it runs in a private mount namespace
// where tmpfs over /usr/local/bin (holding a stand-in veche) and over
// /etc/systemd/system hold them: the host is left alone.
func verifyUnits(t *testing.T, dir string) (string, error) {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	script := `set -e
mount -t tmpfs tmpfs /usr/local/bin
cp /bin/true /usr/local/bin/veche
mount -t tmpfs tmpfs /etc/systemd/system
cp "$1"/veche.service "$1"/veche-backup.service "$1"/veche-backup.timer /etc/systemd/system/
install -D -m 0644 "$1"/tls.conf /etc/systemd/system/veche.service.d/tls.conf
cd /etc/systemd/system
exec systemd-analyze verify ./veche.service ./veche-backup.service ./veche-backup.timer`
	out, err := exec.Command("unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script, "verify", abs).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// TestSystemdUnit checks deploy/veche.service with systemd's own tools:
// verify finds nothing to say about it, and the offline security analysis
// rates its sandboxing "OK" (exposure 2.0 or less of 10). Then it checks
// that the unit and the README's install steps agree.
func TestSystemdUnit(t *testing.T) {
	if out, err := verifyUnits(t, "."); err != nil || out != "" {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The check can fail: a misspelt directive is reported.
	raw, err := os.ReadFile("veche.service")
	if err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	for _, f := range []string{"veche-backup.service", "veche-backup.timer", "tls.conf"} {
		b, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(bad, f), b, 0o644)
	}
	os.WriteFile(filepath.Join(bad, "veche.service"), []byte(strings.Replace(string(raw), "ProtectSystem=strict", "ProtectSystm=strict", 1)), 0o644)
	if out, _ := verifyUnits(t, bad); !strings.Contains(out, "Unknown key 'ProtectSystm'") {
		t.Fatalf("verify let a misspelt directive through: %q", out)
	}

	// The relay rates "OK" (2.0 or less of 10); the backup, which runs as
	// root to read the relay's operator token, 2.5 or less.
	for unit, threshold := range map[string]string{"veche.service": "20", "veche-backup.service": "25"} {
		out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--threshold="+threshold, unit).CombinedOutput()
		level := regexp.MustCompile(`Overall exposure level for \S+: (\S+ \S+)`).FindSubmatch(out)
		if err != nil || level == nil {
			t.Fatalf("systemd-analyze security %s: %v (want exposure %s/10 or less)\n%s", unit, err, threshold, out)
		}
		t.Logf("systemd-analyze security %s: exposure %s", unit, level[1])
	}

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
