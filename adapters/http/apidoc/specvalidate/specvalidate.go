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
	"sync"

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

// eventStream reads a text/event-stream body (the part of a stream a test
// read, or a stream that ended) as the string its schema describes;
// kin-openapi has no decoder of its own for it.
var eventStream = sync.OnceFunc(func() {
	openapi3filter.RegisterBodyDecoder("text/event-stream",
		func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(body)
			return string(b), err
		})
})

// New loads and validates spec. The document's servers are dropped so that
// operations match on method and path alone, whatever host a test uses.
func New(spec []byte) (*Validator, error) {
	eventStream()
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
	if req.Method != http.MethodHead && skippedStatus[status] {
		if err := checkSkipped(route, status, header); err != nil {
			return fmt.Errorf("%s %s -> %d: %w", req.Method, req.URL.Path, status, err)
		}
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

// skippedStatus are the statuses kin-openapi's ValidateResponse accepts
// without looking at them (not even whether they are documented).
var skippedStatus = map[int]bool{
	http.StatusNotModified: true, http.StatusMovedPermanently: true,
	http.StatusTemporaryRedirect: true, http.StatusPermanentRedirect: true,
}

// checkSkipped does for those what ValidateResponse does for the others:
// the status must be documented for the operation, and its headers present
// when required and valid against their schemas.
func checkSkipped(route *routers.Route, status int, header http.Header) error {
	ref := route.Operation.Responses.Status(status)
	if ref == nil || ref.Value == nil {
		return errors.New("status is not supported")
	}
	for name, h := range ref.Value.Headers {
		if h == nil || h.Value == nil {
			continue
		}
		val := header.Get(name)
		if val == "" {
			if h.Value.Required {
				return fmt.Errorf("response header %q missing", name)
			}
			continue
		}
		if h.Value.Schema != nil && h.Value.Schema.Value != nil {
			if err := h.Value.Schema.Value.VisitJSON(val, openapi3.EnableJSONSchema2020()); err != nil {
				return fmt.Errorf("response header %q: %w", name, err)
			}
		}
	}
	return nil
}
