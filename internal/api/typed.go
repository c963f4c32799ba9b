package api

import (
	"context"
	"reflect"
	"strconv"

	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/redact"
)

// TypedHandler is an operation written against its input and output
// shapes. The adapters below (JSON, REST, Form) turn it into a Handler;
// every service's operations are built with one of them, so decoding,
// required members, audit redaction, the read-only rule and error
// conversion are the same everywhere.
type TypedHandler[In any, Out any] func(ctx context.Context, c *Call, in *In) (*Out, error)

// JSON adapts a typed operation to a Handler for JSON 1.1 services: it
// decodes the body into In (SerializationException on malformed input).
// The rest is common to every adapter; see typed.
func JSON[In any, Out any](fn TypedHandler[In, Out]) Handler {
	return typed(fn, func(c *Call, in *In) error { return awsproto.DecodeJSON(c.Body, in) })
}

// REST adapts a typed operation to a Handler for REST-JSON services: it
// decodes the body into In, then binds members tagged `uri:"name"` from the
// path captures and `query:"name"` from the query string (string, int and
// *int members; *int stays nil when the parameter is absent, so an explicit
// 0 can be told from none). A query member absent from the URL is cleared,
// so the body cannot smuggle it in; an int that does not parse is a
// ValidationException naming it.
func REST[In any, Out any](fn TypedHandler[In, Out]) Handler {
	return typed(fn, func(c *Call, in *In) error {
		if err := awsproto.DecodeJSON(c.Body, in); err != nil {
			return err
		}
		return bindREST(c, in)
	})
}

// Form adapts a typed operation to a Handler for Query protocol services:
// it decodes the form parameters into the members of In tagged
// `query:"Name"` (awsproto.DecodeQuery). Give In's members json tags with
// the lower-camel names CloudTrail uses: the audit log records In (and Out)
// by them.
func Form[In any, Out any](fn TypedHandler[In, Out]) Handler {
	return typed(fn, func(c *Call, in *In) error { return awsproto.DecodeQuery(c.Form, in) })
}

// typed is what every adapter does once it knows how to decode: decode
// into In, record the redacted input for the audit log, check members
// tagged `required:"true"` (ValidationException) and an optional
// Validate() error method on In, run fn, record the redacted output unless
// the operation is read-only (CloudTrail leaves responseElements empty for
// reads, which also keeps large outputs such as a secret value out of the
// log), and convert every error through the service's error table
// (Service.Errors) so the caller sees the service's own codes.
func typed[In any, Out any](fn TypedHandler[In, Out], decode func(*Call, *In) error) Handler {
	return func(ctx context.Context, c *Call) (any, error) {
		in := new(In)
		if err := decode(c, in); err != nil {
			return nil, c.wireError(err)
		}
		c.RequestParameters = redact.Value(in)
		if err := awsproto.CheckRequired(in); err != nil {
			return nil, c.wireError(err)
		}
		if v, ok := any(in).(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				return nil, c.wireError(err)
			}
		}
		out, err := fn(ctx, c, in)
		if err != nil {
			return nil, c.wireError(err)
		}
		if out != nil && !c.ReadOnly {
			c.ResponseElements = redact.Value(out)
		}
		return out, nil
	}
}

// wireError converts err through the service's error table.
func (c *Call) wireError(err error) error {
	if c.Service == nil {
		return err
	}
	return c.Service.Errors.Convert(err)
}

// bindREST copies path captures and query parameters into the tagged
// string and int members of v.
func bindREST(c *Call, v any) error {
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		fv := rv.Field(i)
		if name, ok := f.Tag.Lookup("uri"); ok {
			if p, found := c.PathParams[name]; found && fv.Kind() == reflect.String {
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
					return awsproto.Validation("%s: %q is not an integer", name, q[0])
				}
				fv.SetInt(int64(n))
			}
		case reflect.Pointer:
			if fv.Type().Elem().Kind() != reflect.Int {
				continue
			}
			fv.SetZero()
			if present {
				n, err := strconv.Atoi(q[0])
				if err != nil {
					return awsproto.Validation("%s: %q is not an integer", name, q[0])
				}
				fv.Set(reflect.ValueOf(&n))
			}
		}
	}
	return nil
}
