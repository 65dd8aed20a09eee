package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument is the OpenAPI 3.1 description of every route, served at
// GET /api/openapi.json. It is written by hand; TestOpenAPIMatchesRoutes
// checks it against the routes echo registers and the request and answer
// types.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPI serves GET /api/openapi.json.
func (s *Server) openAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
