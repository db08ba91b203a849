// Package specvalidate checks HTTP responses against an OpenAPI document. It is
// a test helper: only tests import it, so kin-openapi never reaches the binary.
// It may import kin-openapi and the standard library, nothing from TaskFlow.
package specvalidate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Validator matches a request to its operation and checks the response the
// server gave against what the document promises for it.
type Validator struct {
	router routers.Router
}

// New loads and validates spec. The document's servers are dropped so that
// operations match on method and path alone, whatever host a test uses.
func New(spec []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("validate OpenAPI document: %w", err)
	}
	doc.Servers = nil
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("build router: %w", err)
	}
	return &Validator{router: router}, nil
}

// Response reports whether the response (status, header, body) to req is one
// the document allows: the route must exist, the status must be documented
// for it (no "default" fallback is accepted as documentation unless the
// document has one), required headers must be present and valid, and the body
// must have a documented content type and match its schema. A documented
// response without content must come with an empty body.
func (v *Validator) Response(req *http.Request, status int, header http.Header, body []byte) error {
	route, pathParams, err := v.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("%s %s: no documented operation: %w", req.Method, req.URL.Path, err)
	}
	if header == nil {
		header = http.Header{}
	}

	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: pathParams,
			Route:      route,
		},
		Status: status,
		Header: header,
		Body:   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return fmt.Errorf("%s %s -> %d: %w", req.Method, req.URL.Path, status, err)
	}

	// ValidateResponse accepts any body for a response documented without
	// content (a 204, say); the contract does not.
	if ref := route.Operation.Responses.Status(status); ref != nil && ref.Value != nil &&
		len(ref.Value.Content) == 0 && len(bytes.TrimSpace(body)) > 0 {
		return fmt.Errorf("%s %s -> %d: %w", req.Method, req.URL.Path, status, errUnexpectedBody)
	}
	return nil
}

var errUnexpectedBody = errors.New("response has a body but the document describes none")
