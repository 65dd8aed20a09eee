package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/veche-sync/veche/server/auth"
	"github.com/veche-sync/veche/server/store"
)

const backupUsage = `veche backup — a consistent copy of a relay's data, with its checksum

Usage:
  veche backup --data DIR > veche-backup.tar
  veche backup --data DIR --output veche-backup.tar
  veche backup --relay https://relay.example --operator-token-file FILE > veche-backup.tar

With --data, a stopped relay's data directory is copied directly; if a
relay is running on it, the copy is taken through that relay (hot: it goes
on serving) with GET /api/backup and the operator token in
DIR/operator.token, at the address the relay wrote in DIR/relay.json
(trusting exactly the certificate it serves), or at --relay (env
VECHE_RELAY). Without --data, --relay and the operator token are needed.

The backup is a tar archive of veche.db and SHA256SUMS; 'veche restore'
puts it back, and 'tar xf' then 'sha256sum -c SHA256SUMS' check it by hand.
It holds every council, token hash and sync state, not the operator token
itself: keep it as safe as the relay.

Flags:
`

// defaultRelay is where a relay running on the data directory is asked
// for a hot backup when neither --relay nor VECHE_RELAY says.
const defaultRelay = "http://localhost:8080"

// BackupCommand is `veche backup`.
type BackupCommand struct {
	// DataDir is the relay's data directory. Flag --data, env VECHE_DATA.
	DataDir string
	// Relay is the URL of a running relay. Flag --relay, env VECHE_RELAY;
	// default http://localhost:8080 when DataDir is in use.
	Relay string
	// TokenFile holds the operator token. Flag --operator-token-file;
	// default DataDir/operator.token.
	TokenFile string
	// Output is where the archive goes; "" or "-" is standard output.
	// Flag --output (-o).
	Output string

	endpoint *localEndpoint // what the running relay wrote in DataDir, if used

	stdout io.Writer
	stderr io.Writer
}

// NewBackupCommand returns a BackupCommand writing to the process's
// standard output and error.
func NewBackupCommand() *BackupCommand {
	return &BackupCommand{stdout: os.Stdout, stderr: os.Stderr}
}

// ParseFlags reads the environment, then flags, which win.
func (c *BackupCommand) ParseFlags(args []string) error {
	c.DataDir = os.Getenv("VECHE_DATA")
	c.Relay = os.Getenv("VECHE_RELAY")
	fs := flag.NewFlagSet("veche backup", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, backupUsage); fs.PrintDefaults() }
	fs.StringVar(&c.DataDir, "data", c.DataDir, "the relay's data directory (env VECHE_DATA)")
	fs.StringVar(&c.Relay, "relay", c.Relay, "URL of the running relay, for a hot backup through it (env VECHE_RELAY)")
	fs.StringVar(&c.TokenFile, "operator-token-file", c.TokenFile, "file holding the operator token (default DIR/operator.token)")
	fs.StringVar(&c.Output, "output", c.Output, "write the backup to this file instead of standard output")
	fs.StringVar(&c.Output, "o", c.Output, "short for --output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errUsage
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if c.DataDir == "" && c.Relay == "" {
		return errors.New("say what to back up: --data DIR, or --relay URL with --operator-token-file")
	}
	return nil
}

// Run writes the backup and prints a summary on standard error.
func (c *BackupCommand) Run(ctx context.Context) error {
	out, commit, err := c.open()
	if err != nil {
		return err
	}
	defer out.discard()
	var info store.BackupInfo
	how := "from " + c.DataDir
	if c.DataDir != "" {
		info, err = c.fromDataDir(ctx, out)
		if errors.Is(err, store.ErrLocked) {
			if c.Relay == "" {
				// The relay said where it listens, and with which certificate.
				if e, rerr := readEndpoint(c.DataDir); rerr == nil {
					c.Relay, c.endpoint = e.URL, &e
				} else {
					c.Relay = defaultRelay
				}
			}
			fmt.Fprintf(c.stderr, "A relay is running on %s: taking the backup through it, at %s.\n", c.DataDir, c.Relay)
			info, err = c.fromRelay(ctx, out)
			how = "through the relay at " + c.Relay
		}
	} else {
		info, err = c.fromRelay(ctx, out)
		how = "through the relay at " + c.Relay
	}
	if err != nil {
		return err
	}
	if err := commit(); err != nil {
		return err
	}
	where := "standard output"
	if c.Output != "" && c.Output != "-" {
		where = c.Output
	}
	fmt.Fprintf(c.stderr, "Backed up %s (%s) %s to %s.\nSHA-256 of veche.db: %s\n",
		humanBytes(info.DBBytes), "veche.db", how, where, info.SHA256)
	return nil
}

// fromDataDir copies a stopped relay's store.
func (c *BackupCommand) fromDataDir(ctx context.Context, out *outputFile) (store.BackupInfo, error) {
	st, err := store.Open(c.DataDir, &store.Options{ReadOnly: true, LockTimeout: 200 * time.Millisecond})
	if err != nil {
		return store.BackupInfo{}, err
	}
	defer st.Close()
	var bar *progress
	info, err := st.WriteBackup(ctx, func(size int64) (io.Writer, error) {
		bar = newProgress(c.stderr, "backup", size, true)
		return bar.Writer(out), nil
	})
	bar.Finish()
	return info, err
}

// fromRelay takes a hot backup through a running relay, checking the
// archive's checksum as it arrives.
func (c *BackupCommand) fromRelay(ctx context.Context, out *outputFile) (store.BackupInfo, error) {
	tokenFile := c.TokenFile
	if tokenFile == "" && c.DataDir != "" {
		tokenFile = filepath.Join(c.DataDir, auth.OperatorTokenFile)
	}
	if tokenFile == "" {
		return store.BackupInfo{}, fmt.Errorf("%w: a backup through the relay needs --operator-token-file", errUsage)
	}
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		return store.BackupInfo{}, fmt.Errorf("operator token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.Relay, "/")+"/api/backup", nil)
	if err != nil {
		return store.BackupInfo{}, err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(raw)))
	client := http.DefaultClient
	if c.endpoint != nil {
		if client, err = c.endpoint.client(); err != nil {
			return store.BackupInfo{}, err
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return store.BackupInfo{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return store.BackupInfo{}, fmt.Errorf("the relay answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	bar := newProgress(c.stderr, "backup", resp.ContentLength, true)
	defer bar.Finish()
	// Everything read goes to out; reading the archive checks its checksum.
	tee := io.TeeReader(bar.Reader(resp.Body), out)
	info, err := store.ReadBackup(ctx, tee, io.Discard)
	if err != nil {
		return store.BackupInfo{}, err
	}
	if _, err := io.Copy(io.Discard, tee); err != nil { // tar's closing blocks
		return store.BackupInfo{}, err
	}
	if resp.ContentLength >= 0 && out.n != resp.ContentLength {
		return store.BackupInfo{}, fmt.Errorf("the backup is cut short: %d of %d bytes", out.n, resp.ContentLength)
	}
	return info, nil
}

// open prepares the output: standard output (not a terminal), or a
// temporary file beside --output that commit syncs and renames into place.
func (c *BackupCommand) open() (*outputFile, func() error, error) {
	if c.Output == "" || c.Output == "-" {
		if isTerminal(c.stdout) {
			return nil, nil, fmt.Errorf("%w: the backup is binary: redirect it to a file (> veche-backup.tar) or use --output", errUsage)
		}
		return &outputFile{w: c.stdout}, func() error { return nil }, nil
	}
	f, err := os.CreateTemp(filepath.Dir(c.Output), "."+filepath.Base(c.Output)+".*")
	if err != nil {
		return nil, nil, err
	}
	out := &outputFile{w: f, f: f}
	commit := func() error {
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), c.Output)
		}
		if err == nil {
			out.f = nil
		}
		return err
	}
	return out, commit, nil
}

// outputFile counts what is written to w; if f is still set when
// discard is called, the temporary file is removed.
type outputFile struct {
	w io.Writer
	f *os.File
	n int64
}

func (o *outputFile) Write(b []byte) (int, error) {
	n, err := o.w.Write(b)
	o.n += int64(n)
	return n, err
}

func (o *outputFile) discard() {
	if o != nil && o.f != nil {
		_ = o.f.Close()
		_ = os.Remove(o.f.Name())
	}
}

const restoreUsage = `veche restore — put a backup back into a data directory

Usage:
  veche restore veche-backup.tar --data DIR [--force]
  veche restore - --data DIR < veche-backup.tar

The backup's checksum is verified and the copy opened and checked before
anything in DIR changes; then it replaces DIR/veche.db in one step. DIR must
be empty (a new data directory) unless --force, which replaces the store of
a stopped relay. Start the relay on DIR afterwards: if DIR has no
operator.token, the relay issues a new one.

Flags:
`

// RestoreCommand is `veche restore`.
type RestoreCommand struct {
	// Backup is the archive to restore; "-" is standard input.
	Backup string
	// DataDir is the data directory to restore into. Flag --data, env
	// VECHE_DATA.
	DataDir string
	// Force replaces the store of a non-empty data directory. Flag --force.
	Force bool

	stdin  io.Reader
	stderr io.Writer
}

// NewRestoreCommand returns a RestoreCommand on the process's standard
// input and error.
func NewRestoreCommand() *RestoreCommand {
	return &RestoreCommand{stdin: os.Stdin, stderr: os.Stderr}
}

// ParseFlags reads the environment, then the arguments.
func (c *RestoreCommand) ParseFlags(args []string) error {
	c.DataDir = os.Getenv("VECHE_DATA")
	fs := flag.NewFlagSet("veche restore", flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() { fmt.Fprint(c.stderr, restoreUsage); fs.PrintDefaults() }
	fs.StringVar(&c.DataDir, "data", c.DataDir, "the data directory to restore into (env VECHE_DATA)")
	fs.BoolVar(&c.Force, "force", c.Force, "replace the store of a non-empty data directory (the relay must be stopped)")
	// The backup may come before or after the flags.
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return errUsage
			}
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(rest) != 1 {
		fs.Usage()
		return fmt.Errorf("%w: name one backup file (or - for standard input)", errUsage)
	}
	c.Backup = rest[0]
	if c.DataDir == "" {
		return fmt.Errorf("%w: --data DIR: where to restore", errUsage)
	}
	return nil
}

// Run restores the backup and prints a summary on standard error.
func (c *RestoreCommand) Run(ctx context.Context) error {
	in, total := c.stdin, int64(-1)
	if c.Backup != "-" {
		f, err := os.Open(c.Backup)
		if err != nil {
			return err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil {
			total = fi.Size()
		}
		in = f
	}
	bar := newProgress(c.stderr, "restore", total, true)
	info, err := store.Restore(ctx, bar.Reader(in), c.DataDir, store.RestoreOptions{Force: c.Force})
	bar.Finish()
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "Restored %s (veche.db, SHA-256 %s verified) into %s.\nStart the relay on it: veche serve --data %s\n",
		humanBytes(info.DBBytes), info.SHA256, c.DataDir, c.DataDir)
	return nil
}

// humanBytes is n in B, KiB, MiB or GiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGT"[exp])
}

// setOutput redirects what the command prints (tests).
func (c *BackupCommand) setOutput(stdout, stderr io.Writer) { c.stdout, c.stderr = stdout, stderr }

// setOutput redirects what the command prints (tests).
func (c *RestoreCommand) setOutput(stdout, stderr io.Writer) { c.stderr = stderr }
