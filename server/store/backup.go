package store

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// A backup archive is a tar file (optionally gzip-compressed by whoever
// keeps it) holding two entries, so standard tools can open and verify it
// (`tar xf backup.tar && sha256sum -c SHA256SUMS`):
//
//	veche.db      a consistent copy of the store, from one read transaction
//	SHA256SUMS    "<hex sha256>  veche.db\n"
//
// The copy is hot: the relay keeps serving while it is written (see
// Backup). Restore refuses an archive whose checksum does not match, or
// whose copy bbolt does not open and check clean, before it touches the
// data directory.
const (
	archiveDB   = FileName
	archiveSums = "SHA256SUMS"
)

// Errors of backup and restore.
var (
	// ErrChecksum is returned by Restore when the archive's copy does not
	// match its SHA256SUMS, or the archive is not a veche backup.
	ErrChecksum = errors.New("backup does not match its checksum")
	// ErrNotEmpty is returned by Restore into a data directory that holds
	// files, unless it is told to replace them.
	ErrNotEmpty = errors.New("data directory is not empty")
)

// BackupInfo describes one backup archive.
type BackupInfo struct {
	// DBBytes is the size of the store's copy.
	DBBytes int64
	// SHA256 is the hex SHA-256 of the copy.
	SHA256 string
	// ArchiveBytes is the size of the whole archive.
	ArchiveBytes int64
}

// ArchiveSize is the size of the archive of a dbBytes copy: a tar header
// and the padded copy, a header and a block for SHA256SUMS, and tar's two
// closing blocks.
func ArchiveSize(dbBytes int64) int64 {
	return 512 + (dbBytes+511)/512*512 + 512 + 512 + 1024
}

// WriteBackup writes a backup archive of the store, consistent as of one
// read transaction, while writers go on. begin is called once, inside that
// transaction, with the archive's exact size (for a Content-Length or a
// progress bar), and returns where to write it.
func (s *Bolt) WriteBackup(ctx context.Context, begin func(size int64) (io.Writer, error)) (info BackupInfo, err error) {
	defer wrap(&err, "backup")
	if err := s.acquire(ctx); err != nil {
		return BackupInfo{}, err
	}
	defer s.mu.RUnlock()
	err = s.db.View(func(tx *bolt.Tx) error {
		info.DBBytes = tx.Size()
		info.ArchiveBytes = ArchiveSize(info.DBBytes)
		w, err := begin(info.ArchiveBytes)
		if err != nil {
			return err
		}
		now := time.Now().UTC().Truncate(time.Second)
		tw := tar.NewWriter(ctxWriter{ctx: ctx, w: w})
		err = tw.WriteHeader(&tar.Header{Name: archiveDB, Mode: 0o600, Size: info.DBBytes, ModTime: now,
			Typeflag: tar.TypeReg, Format: tar.FormatUSTAR})
		if err != nil {
			return err
		}
		h := sha256.New()
		if _, err := tx.WriteTo(io.MultiWriter(tw, h)); err != nil {
			return err
		}
		info.SHA256 = hex.EncodeToString(h.Sum(nil))
		sums := info.SHA256 + "  " + archiveDB + "\n"
		err = tw.WriteHeader(&tar.Header{Name: archiveSums, Mode: 0o644, Size: int64(len(sums)), ModTime: now,
			Typeflag: tar.TypeReg, Format: tar.FormatUSTAR})
		if err != nil {
			return err
		}
		if _, err := io.WriteString(tw, sums); err != nil {
			return err
		}
		return tw.Close()
	})
	return info, err
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Force replaces the store of a data directory that has one (and
	// allows a directory holding other files). The store being replaced
	// must not be open: Restore fails with ErrLocked while a relay runs
	// on it. Default false: a non-empty directory is refused with
	// ErrNotEmpty.
	Force bool
	// LockTimeout is how long to wait for a running relay to let go of
	// the store being replaced. Default DefaultLockTimeout.
	LockTimeout time.Duration
}

// Restore reads a backup archive (plain or gzip-compressed) from r into
// dir. It writes the copy to a temporary file beside the store, checks it
// against the archive's SHA-256, opens it with bbolt and runs bbolt's
// consistency check, and only then renames it into place (atomically, and
// made durable). On any error the data directory is left as it was.
func Restore(ctx context.Context, r io.Reader, dir string, opts RestoreOptions) (info BackupInfo, err error) {
	defer wrap(&err, "restore into %s", dir)
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return BackupInfo{}, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return BackupInfo{}, err
	}
	if len(entries) > 0 && !opts.Force {
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return BackupInfo{}, fmt.Errorf("%w: it holds %s; restore into an empty directory, or replace its store with --force",
			ErrNotEmpty, strings.Join(names, ", "))
	}
	path := filepath.Join(dir, FileName)
	// The store being replaced stays locked until the new one is in place,
	// so a relay cannot start on it halfway.
	if unlock, err := lockExisting(path, opts.LockTimeout); err != nil {
		return BackupInfo{}, err
	} else {
		defer unlock()
	}

	tmp, err := os.CreateTemp(dir, ".veche.db.restore-*")
	if err != nil {
		return BackupInfo{}, err
	}
	defer os.Remove(tmp.Name()) // after a successful rename, this removes nothing
	if err := matchOwner(tmp.Name(), dir); err != nil {
		return BackupInfo{}, err
	}
	info, err = ReadBackup(ctx, r, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return BackupInfo{}, err
	}
	if err := checkCopy(tmp.Name()); err != nil {
		return BackupInfo{}, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return BackupInfo{}, err
	}
	return info, syncDir(dir)
}

// ReadBackup reads a backup archive (plain or gzip-compressed), copies its
// veche.db into w and checks it against the archive's SHA256SUMS: an
// error wrapping ErrChecksum means the archive is damaged, truncated or
// not a veche backup.
func ReadBackup(ctx context.Context, r io.Reader, w io.Writer) (info BackupInfo, err error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return BackupInfo{}, fmt.Errorf("%w: gzip: %w", ErrChecksum, err)
		}
		defer gz.Close()
		r = gz
	} else {
		r = br
	}
	tr := tar.NewReader(r)
	h := sha256.New()
	want := ""
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return BackupInfo{}, fmt.Errorf("%w: not a veche backup archive (tar: %w)", ErrChecksum, err)
		}
		switch hdr.Name {
		case archiveDB:
			n, err := io.Copy(ctxWriter{ctx: ctx, w: io.MultiWriter(w, h)}, tr)
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return BackupInfo{}, fmt.Errorf("%w: the archive is cut short", ErrChecksum)
			}
			if err != nil {
				return BackupInfo{}, err
			}
			info.DBBytes = n
		case archiveSums:
			b, err := io.ReadAll(io.LimitReader(tr, 4096))
			if err != nil {
				return BackupInfo{}, err
			}
			for _, line := range strings.Split(string(b), "\n") {
				if sum, name, ok := strings.Cut(line, "  "); ok && name == archiveDB {
					want = sum
				}
			}
		}
	}
	info.SHA256 = hex.EncodeToString(h.Sum(nil))
	switch {
	case info.DBBytes == 0:
		return BackupInfo{}, fmt.Errorf("%w: the archive holds no %s", ErrChecksum, archiveDB)
	case want == "":
		return BackupInfo{}, fmt.Errorf("%w: the archive holds no checksum of %s", ErrChecksum, archiveDB)
	case want != info.SHA256:
		return BackupInfo{}, fmt.Errorf("%w: %s has SHA-256 %s, the archive says %s", ErrChecksum, archiveDB, info.SHA256, want)
	}
	info.ArchiveBytes = ArchiveSize(info.DBBytes)
	return info, nil
}

// checkCopy opens a restored copy read-only and runs bbolt's check on it.
func checkCopy(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("%w: the copy does not open: %w", ErrCorrupt, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketDocs) == nil {
			return fmt.Errorf("%w: the copy is not a veche store (no docs bucket)", ErrCorrupt)
		}
		for e := range tx.Check() {
			return fmt.Errorf("%w: the copy fails bbolt's check: %w", ErrCorrupt, e)
		}
		return nil
	})
}

// lockExisting takes the lock bbolt takes (flock) on the store at path,
// if there is one, so that nothing opens it while it is replaced. It
// fails with ErrLocked when a running relay holds it past timeout.
func lockExisting(path string, timeout time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w: data directory %s is in use by another veche process: stop the relay first",
					ErrLocked, filepath.Dir(path))
			}
			return nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() { _ = f.Close() }, nil // closing releases the lock
}

// matchOwner gives path the owner of like, when running as root: a store
// that root restores or compacts for a relay running as its own user
// (systemd's DynamicUser, a container's) must stay that user's.
func matchOwner(path, like string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Stat(like)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return os.Chown(path, int(st.Uid), int(st.Gid))
}

// syncDir makes the names in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// CompactFile rewrites the store in dir into a new file holding only live
// data, and swaps it in: bbolt never shrinks its file, so after heavy
// churn (compactions of documents, revoked tokens) much of it can be free
// pages. It needs the store closed (no relay running: ErrLocked), and
// space for the new file beside the old. It returns the file's size before
// and after. progress, if not nil, is called now and then with the bytes
// written so far and the old file's size.
func CompactFile(ctx context.Context, dir string, progress func(done, total int64)) (before, after int64, err error) {
	defer wrap(&err, "compact %s", dir)
	path := filepath.Join(dir, FileName)
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrNoStore, err)
	}
	before = fi.Size()
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: DefaultLockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return 0, 0, fmt.Errorf("%w: data directory %s is in use by another veche process: stop the relay first", ErrLocked, dir)
	}
	if err != nil {
		return 0, 0, err
	}
	defer src.Close()
	tmpPath := filepath.Join(dir, ".veche.db.compact")
	_ = os.Remove(tmpPath) // a leftover of an interrupted run
	dst, err := bolt.Open(tmpPath, 0o600, &bolt.Options{NoSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(tmpPath) // after a successful rename, this removes nothing
	if err := matchOwner(tmpPath, path); err != nil {
		_ = dst.Close()
		return 0, 0, err
	}

	done := make(chan struct{})
	if progress != nil {
		go func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if fi, err := os.Stat(tmpPath); err == nil {
						progress(min(fi.Size(), before), before)
					}
				}
			}
		}()
	}
	err = bolt.Compact(dst, src, 64<<20)
	close(done)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, err
	}
	if err := checkCopy(tmpPath); err != nil {
		return 0, 0, err
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return 0, 0, err
	}
	if err := syncDir(dir); err != nil {
		return 0, 0, err
	}
	if fi, err := os.Stat(path); err == nil {
		after = fi.Size()
	}
	if progress != nil {
		progress(before, before)
	}
	return before, after, nil
}
