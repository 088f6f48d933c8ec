package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/danielgtaylor/huma/v2"
)

// strictBody refuses, with 422, what a request body says that the
// decoding would silently drop: a key given twice in one object
// (encoding/json keeps the last), and in a PATCH, null for a field whose
// schema does not admit null (Huma takes it for an absent field, so
// {"price": null} changed nothing and said so with a 200, where the client
// may have meant to clear it). Elsewhere such a null stays what Huma and
// the seed's API take it for, a field left out. Malformed JSON is left to
// Huma, which answers 400.
func (s *server) strictBody(hctx huma.Context, next func(huma.Context)) {
	op := hctx.Operation()
	ri := infoOf(hctx.Context())
	if op == nil || op.RequestBody == nil || ri == nil || len(ri.body) == 0 {
		next(hctx)
		return
	}
	mt := op.RequestBody.Content["application/json"]
	if mt == nil || mt.Schema == nil {
		next(hctx)
		return
	}
	nulls := hctx.Method() == http.MethodPatch
	if errs := strictJSON(ri.body, mt.Schema, s.api.OpenAPI().Components.Schemas, nulls); len(errs) > 0 {
		_ = huma.WriteErr(s.api, hctx, http.StatusUnprocessableEntity, "validation failed", errs...)
		return
	}
	next(hctx)
}

// strictJSON walks body along schema s (resolving references in reg) and
// returns an error detail for each repeated key and, with nulls, each null
// given for an optional property whose schema is not nullable; nil when
// body is not well-formed JSON.
func strictJSON(body []byte, s *huma.Schema, reg huma.Registry, nulls bool) []error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var errs []error
	resolve := func(s *huma.Schema) *huma.Schema {
		if s != nil && s.Ref != "" {
			return reg.SchemaFromRef(s.Ref)
		}
		return s
	}
	// value reads one value at loc; s is its schema, and optional says
	// that its object may leave it out. A value without a schema (a
	// property the schema does not have, or what nests deeper than it) is
	// skipped whole by the decoder, whose nesting depth is bounded, and
	// left to Huma to refuse: the walk goes no deeper than the schema.
	var value func(s *huma.Schema, loc string, optional bool) error
	value = func(s *huma.Schema, loc string, optional bool) error {
		if s = resolve(s); s == nil {
			var skip json.RawMessage
			return dec.Decode(&skip)
		}
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				at := loc + "." + k
				if seen[k] {
					errs = append(errs, &huma.ErrorDetail{Location: at, Message: "is given more than once"})
				}
				seen[k] = true
				if err := value(s.Properties[k], at, !slices.Contains(s.Required, k)); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if err := value(s.Items, fmt.Sprintf("%s[%d]", loc, i), false); err != nil {
					return err
				}
			}
			_, err = dec.Token()
			return err
		case nil:
			// A required property's null is Huma's to refuse.
			if nulls && optional && !s.Nullable {
				errs = append(errs, &huma.ErrorDetail{Location: loc, Message: "must not be null; leave the field out instead"})
			}
		}
		return nil
	}
	if err := value(s, "body", false); err != nil {
		return nil
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil // trailing data: malformed, Huma's to say
	}
	return errs
}
