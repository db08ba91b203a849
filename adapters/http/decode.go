package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"reflect"
	"strings"

	"github.com/go-playground/validator/v10"
	"github.com/gofiber/fiber/v2"

	"github.com/taskflow/taskflow/domain"
)

var (
	errNotJSON = fiber.NewError(fiber.StatusUnsupportedMediaType, "the request body must be application/json")
	errNoBody  = &domain.Error{Kind: domain.KindBadRequest, Code: "malformed_json", Message: "the request body is empty; a JSON object is required"}
	// errNotObject is a well-formed body that is not an object; 400 like
	// errNoBody, since no field of it can be named in a 422.
	errNotObject = &domain.Error{Kind: domain.KindBadRequest, Code: "malformed_json", Message: "the request body must be a JSON object"}
	errSyntax    = &domain.Error{Kind: domain.KindBadRequest, Code: "malformed_json", Message: "the request body is not valid JSON"}
)

// isJSON reports whether the request says its body is JSON.
func isJSON(c *fiber.Ctx) bool {
	mt, _, err := mime.ParseMediaType(string(c.Request().Header.ContentType()))
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// decodeJSON decodes the body strictly into dst: JSON content type, one
// object, no unknown fields, no trailing data, then the validator's rules.
// Every failure is a 4xx with a message a client can act on.
func decodeJSON(c *fiber.Ctx, dst any) error {
	if !isJSON(c) {
		return errNotJSON
	}
	body := c.Body()
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return errNoBody
	}
	// encoding/json decodes null into a struct as a no-op, so without
	// this a null body would be taken as {} (a PATCH that changes nothing
	// answering 200). Any JSON value but an object is refused here.
	if trimmed[0] != '{' {
		if json.Valid(trimmed) {
			return errNotObject
		}
		return errSyntax
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return &domain.Error{Kind: domain.KindBadRequest, Code: "malformed_json", Message: "the request body has data after the JSON object"}
	}
	return validate(dst)
}

// jsonError turns an encoding/json error into a client error: syntax is
// 400; a well-formed body with a wrong type or an unknown field is 422.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errSyntax
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return errNotObject
		}
		return domain.Invalid(domain.FieldError{Field: field, Message: "must be of type " + jsonType(typ.Type)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return domain.Invalid(domain.FieldError{Field: name, Message: "is not a field this request accepts"})
	}
	return &domain.Error{Kind: domain.KindBadRequest, Code: "malformed_json", Message: "the request body could not be decoded"}
}

func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "integer"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	default:
		return t.String()
	}
}

// opt is a JSON field that may be absent, null or a value, so that a
// partial update can tell "leave alone" from "set to null".
type opt[T any] struct {
	Set  bool // present in the body
	Null bool // present as null
	V    T
}

func (o *opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.V)
}

var validate = func() func(any) error {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	return func(dst any) error {
		err := v.Struct(dst)
		var verrs validator.ValidationErrors
		if !errors.As(err, &verrs) {
			return err
		}
		fields := make([]domain.FieldError, 0, len(verrs))
		for _, fe := range verrs {
			fields = append(fields, domain.FieldError{Field: fe.Field(), Message: ruleMessage(fe)})
		}
		return domain.Invalid(fields...)
	}
}()

func ruleMessage(fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "is required"
	case "oneof":
		return "must be one of " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "max":
		return "must be at most " + fe.Param() + " long"
	case "min":
		return "must be at least " + fe.Param() + " long"
	case "gt":
		return "must be greater than " + fe.Param()
	}
	return "is invalid (" + fe.Tag() + ")"
}
