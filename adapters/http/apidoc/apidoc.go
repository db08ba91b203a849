// Package apidoc holds TaskFlow's published API description: the OpenAPI 3.1
// document served at /openapi.json and the files of the interactive docs page
// served at /docs (Swagger UI from swagger-ui-dist 5.35.0, embedded so the page
// needs no CDN). It imports only the standard library; the HTTP adapter serves
// what it exports, and tests check responses against the document through the
// specvalidate subpackage.
package apidoc

import (
	"embed"
	"io/fs"
)

// OpenAPI is the OpenAPI 3.1 document, as served. It is the contract of
// shared/API.md in machine-readable form; tests hold the handlers to it.
//
//go:embed openapi.json
var OpenAPI []byte

//go:embed assets
var assets embed.FS

// Assets returns the docs page's files, rooted so that "index.html" is the page
// for /docs and every other name is served as /docs/<name>.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		// The directory is embedded at build time, so this cannot fail at run time.
		panic("apidoc: embedded assets missing: " + err.Error())
	}
	return sub
}
