package api

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

// BackupFunc writes a backup archive of the relay's store (see
// store.Bolt.WriteBackup): begin is called once with the archive's exact
// size and returns where to write it.
type BackupFunc func(ctx context.Context, begin func(size int64) (io.Writer, error)) error

// backup serves GET /api/backup to the operator: a hot, consistent copy
// of the store as a tar archive with its SHA-256 (veche backup reads it,
// veche restore puts it back). The relay keeps serving meanwhile.
func (s *Server) backup(c echo.Context) error {
	if s.opts.Backup == nil {
		return &Error{Code: CodeUnavailable, Message: "this relay has no store to back up"}
	}
	started := false
	err := s.opts.Backup(c.Request().Context(), func(size int64) (io.Writer, error) {
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "application/x-tar")
		h.Set(echo.HeaderContentLength, strconv.FormatInt(size, 10))
		h.Set(echo.HeaderContentDisposition, `attachment; filename="veche-backup-`+time.Now().UTC().Format("20060102T150405Z")+`.tar"`)
		c.Response().WriteHeader(http.StatusOK)
		started = true
		return c.Response(), nil
	})
	if err != nil && started {
		// The answer is under way: all that can be done is cut it short,
		// which the client sees as a truncated archive.
		s.log.Warn("backup cut short", "err", err)
		return nil
	}
	return err
}
