package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
)

// Error is the one error type of the HTTP API: a machine-readable code and
// a message for people. It is rendered as {"error":{"code","message"}}.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes, each mapped to one HTTP status in statusOf.
const (
	CodeUnauthenticated = "unauthenticated"
	CodeNotFound        = "not_found"
	CodeBadRequest      = "bad_request"
	CodeInternal        = "internal"
)

// statusOf maps an error code to its HTTP status: the one place that does.
func statusOf(code string) int {
	switch code {
	case CodeUnauthenticated:
		return http.StatusUnauthorized
	case CodeNotFound:
		return http.StatusNotFound
	case CodeBadRequest:
		return http.StatusBadRequest
	default:
		return http.StatusInternalServerError
	}
}

// handleError renders every error a handler returns.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var apiErr *Error
	var httpErr *echo.HTTPError
	switch {
	case errors.As(err, &apiErr):
	case errors.As(err, &httpErr) && httpErr.Code == http.StatusNotFound:
		apiErr = &Error{Code: CodeNotFound, Message: "no such route"}
	case errors.As(err, &httpErr) && httpErr.Code < 500:
		apiErr = &Error{Code: CodeBadRequest, Message: http.StatusText(httpErr.Code)}
	default:
		s.log.Error("request failed", "path", c.Path(), "err", err)
		apiErr = &Error{Code: CodeInternal, Message: "internal error"}
	}
	_ = c.JSON(statusOf(apiErr.Code), map[string]any{"error": apiErr})
}
