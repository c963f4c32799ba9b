package controlplane

import (
	"context"
	"reflect"
	"strconv"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/awsproto"
)

// rest adapts a typed operation to a REST-JSON Handler: it decodes the
// body into In, then binds members tagged `uri:"name"` from the path and
// `query:"name"` from the query string (a query member absent from the
// URL is cleared, so the body cannot smuggle it in), records the redacted
// input and output for the audit log, and renders every error the way App
// Mesh does (wireError).
func rest[In any, Out any](fn func(ctx context.Context, c *api.Call, in *In) (*Out, error)) api.Handler {
	return func(ctx context.Context, c *api.Call) (any, error) {
		in := new(In)
		if err := awsproto.DecodeJSON(c.Body, in); err != nil {
			return nil, wireError(err)
		}
		if err := bind(c, in); err != nil {
			return nil, wireError(err)
		}
		c.RequestParameters = audit.Redact(in)
		out, err := fn(ctx, c, in)
		if err != nil {
			return nil, wireError(err)
		}
		if out != nil {
			c.ResponseElements = audit.Redact(out)
		}
		return out, nil
	}
}

// bind copies path and query parameters into the tagged string and int
// members of v.
func bind(c *api.Call, v any) error {
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		fv := rv.Field(i)
		if name, ok := f.Tag.Lookup("uri"); ok {
			if p, found := c.PathParams[name]; found {
				fv.SetString(p)
			}
			continue
		}
		name, ok := f.Tag.Lookup("query")
		if !ok {
			continue
		}
		q, present := c.Query[name]
		switch fv.Kind() {
		case reflect.String:
			fv.SetString("")
			if present {
				fv.SetString(q[0])
			}
		case reflect.Int:
			fv.SetInt(0)
			if present {
				n, err := strconv.Atoi(q[0])
				if err != nil {
					return badRequest("%s: %q is not an integer", name, q[0])
				}
				if n == 0 {
					return badRequest("%s: must be between 1 and 100", name)
				}
				fv.SetInt(int64(n))
			}
		}
	}
	return nil
}
