package api

import (
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// BackupStagingPattern names the files GET /api/backup stages its copy in
// (os.CreateTemp's pattern); one left by a crash may be deleted.
const BackupStagingPattern = ".backup-*.tar"

// BackupFunc writes a backup archive of the relay's store (see
// store.Bolt.WriteBackup): begin is called once with the archive's exact
// size and returns where to write it.
type BackupFunc func(ctx context.Context, begin func(size int64) (io.Writer, error)) error

// backup serves GET /api/backup to the operator: a hot, consistent copy
// of the store as a tar archive with its SHA-256 (veche backup reads it,
// veche restore puts it back). The relay keeps serving meanwhile.
//
// The copy is first written to a private file (in Options.BackupStaging) at disk speed,
// and only then sent: the store's read transaction must not last as long
// as a slow link takes to carry the archive, because a writer that needs
// to grow the store's memory map waits for every read transaction to end.
func (s *Server) backup(c echo.Context) error {
	if s.opts.Backup == nil {
		return &Error{Code: CodeUnavailable, Message: "this relay has no store to back up"}
	}
	tmp, err := os.CreateTemp(s.opts.BackupStaging, BackupStagingPattern) // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	var size int64
	err = s.opts.Backup(c.Request().Context(), func(n int64) (io.Writer, error) {
		size = n
		return tmp, nil
	})
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/x-tar")
	h.Set(echo.HeaderContentLength, strconv.FormatInt(size, 10))
	h.Set(echo.HeaderContentDisposition, `attachment; filename="veche-backup-`+time.Now().UTC().Format("20060102T150405Z")+`.tar"`)
	c.Response().WriteHeader(http.StatusOK)
	if _, err := io.Copy(c.Response(), tmp); err != nil {
		// The answer is under way: the client sees a truncated archive,
		// which veche backup and veche restore refuse.
		s.log.Warn("backup cut short", "err", err)
	}
	return nil
}
