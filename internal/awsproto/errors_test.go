package awsproto

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

var (
	errNotFound = errors.New("not found")
	errInUse    = errors.New("in use")
	errBad      = errors.New("bad request")
)

var testTable = ErrorTable{
	{Err: errNotFound, Code: "NotFoundException", Status: http.StatusNotFound},
	{Err: errInUse, Code: "ResourceInUseException", Status: http.StatusConflict, Message: "The resource is in use."},
	{Err: errBad, Code: "BadRequestException"},
	{Err: ErrValidation, Code: "BadRequestException"},
	{Err: ErrAccessDenied, Code: CodeAccessDenied, Status: http.StatusForbidden},
}

func TestErrorTableConvert(t *testing.T) {
	t.Parallel()
	internal := errors.New("disk on fire")
	denied := &AccessDenied{Principal: "arn:p", Action: "appmesh:ListMeshes", Resource: "*"}
	tests := []struct {
		name string
		err  error
		want *Error // nil: passes through unchanged
	}{
		{"detail after the sentinel", fmt.Errorf("%w: Mesh m does not exist.", errNotFound),
			&Error{Code: "NotFoundException", Message: "Mesh m does not exist.", Status: 404}},
		{"context wrapped around it", fmt.Errorf("describe: %w", fmt.Errorf("%w: Mesh m does not exist.", errNotFound)),
			&Error{Code: "NotFoundException", Message: "Mesh m does not exist.", Status: 404}},
		{"detail naming the sentinel text again", fmt.Errorf("%w: route not found: r", errNotFound),
			&Error{Code: "NotFoundException", Message: "route not found: r", Status: 404}},
		{"bare sentinel takes the default message", errInUse,
			&Error{Code: "ResourceInUseException", Message: "The resource is in use.", Status: 409}},
		{"bare sentinel without a default", errBad,
			&Error{Code: "BadRequestException", Message: "bad request", Status: 400}},
		{"sentinel wrapping another error", fmt.Errorf("%w: %w", errBad, errors.New("spec.x: must be set")),
			&Error{Code: "BadRequestException", Message: "spec.x: must be set", Status: 400}},
		{"framework validation re-coded", Validation("limit: %q is not an integer", "x"),
			&Error{Code: "BadRequestException", Message: `limit: "x" is not an integer`, Status: 400}},
		{"access denied re-coded", denied,
			&Error{Code: CodeAccessDenied, Message: denied.Error(), Status: 403}},
		{"wrapped access denied", fmt.Errorf("authorize: %w", denied),
			&Error{Code: CodeAccessDenied, Message: denied.Error(), Status: 403}},
		{"unknown wire error passes", Errorf("KMSInvalidStateException", "x"), nil},
		{"internal error passes", internal, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := testTable.Convert(tt.err)
			if tt.want == nil {
				if got != tt.err {
					t.Fatalf("Convert(%v) = %v, want it unchanged", tt.err, got)
				}
				return
			}
			var e *Error
			if !errors.As(got, &e) || *e != *tt.want {
				t.Fatalf("Convert(%v) = %#v, want %#v", tt.err, got, tt.want)
			}
		})
	}
	if testTable.Convert(nil) != nil {
		t.Error("Convert(nil) != nil")
	}
}

func TestErrorTableServerFault(t *testing.T) {
	t.Parallel()
	errDown := errors.New("down")
	e := ErrorTable{{Err: errDown, Code: "ServiceUnavailableException", Status: 503}}.Convert(errDown).(*Error)
	if !e.Receiver {
		t.Errorf("a 5xx mapping must be a receiver fault: %#v", e)
	}
}
