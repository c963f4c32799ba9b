package awsproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// JSONContentType is the content type of JSON 1.1 requests and responses.
const JSONContentType = "application/x-amz-json-1.1"

// DecodeJSON decodes a JSON 1.1 request body into v. An empty body is an
// empty object, as AWS treats it. Malformed JSON and values of the wrong
// type become a SerializationException naming the member, never a panic.
// Unknown members are ignored, as the AWS services do.
func DecodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonDecodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Serialization("Unexpected content after the JSON document")
	}
	return nil
}

func jsonDecodeError(err error) *Error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			return Serialization("Start of structure or map found where not expected")
		}
		return Serialization("Unexpected value type for member '%s': expected %s, found JSON %s", field, kindName(typeErr.Type), typeErr.Value)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return Serialization("Malformed JSON at byte offset %d: %s", syntaxErr.Offset, syntaxErr.Error())
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return Serialization("Malformed JSON: unexpected end of input")
	}
	// Blob members decode through base64; their errors name no field.
	if strings.Contains(err.Error(), "illegal base64") {
		return Serialization("A blob member is not valid base64: %s", err.Error())
	}
	return Serialization("Could not read the request body: %s", err.Error())
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "blob (base64 string)"
		}
		return "list"
	case reflect.Map, reflect.Struct:
		return "structure"
	}
	return t.String()
}

// RESTJSONContentType is the content type of REST-JSON bodies.
const RESTJSONContentType = "application/json"

// WriteJSON writes a JSON 1.1 success response. A nil v writes "{}".
func WriteJSON(w http.ResponseWriter, requestID string, v any) error {
	return writeJSON(w, JSONContentType, http.StatusOK, requestID, v)
}

// WriteRESTJSON writes a REST-JSON success response with the given status
// (0 means 200); v is the operation's payload member.
func WriteRESTJSON(w http.ResponseWriter, status int, requestID string, v any) error {
	if status == 0 {
		status = http.StatusOK
	}
	return writeJSON(w, RESTJSONContentType, status, requestID, v)
}

func writeJSON(w http.ResponseWriter, contentType string, status int, requestID string, v any) error {
	var body []byte
	if v == nil || (reflect.ValueOf(v).Kind() == reflect.Pointer && reflect.ValueOf(v).IsNil()) {
		body = []byte("{}")
	} else {
		var err error
		if body, err = json.Marshal(v); err != nil {
			return fmt.Errorf("encode response: %w", err)
		}
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, err := w.Write(body)
	return err
}

// WriteJSONError renders e in the JSON 1.1 error shape: the code in both
// the X-Amzn-ErrorType header and the "__type" member, which is where the
// SDKs look.
func WriteJSONError(w http.ResponseWriter, requestID string, e *Error) {
	writeJSONError(w, JSONContentType, requestID, e)
}

// WriteRESTJSONError renders e for a REST-JSON service: the code in the
// X-Amzn-ErrorType header (and "__type"), the message in "message".
func WriteRESTJSONError(w http.ResponseWriter, requestID string, e *Error) {
	writeJSONError(w, RESTJSONContentType, requestID, e)
}

func writeJSONError(w http.ResponseWriter, contentType, requestID string, e *Error) {
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("X-Amzn-Errortype", e.Code)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Time is a timestamp that the JSON protocols carry as epoch seconds (with
// a fractional part), the format every AWS SDK expects there.
type Time struct{ time.Time }

// NewTime wraps t; a zero t marshals as null.
func NewTime(t time.Time) *Time {
	if t.IsZero() {
		return nil
	}
	return &Time{t}
}

// MarshalJSON writes epoch seconds with millisecond precision.
func (t Time) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	s := strconv.FormatInt(ms/1000, 10)
	if frac := ms % 1000; frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%03d", frac), "0")
	}
	return []byte(s), nil
}

// UnmarshalJSON reads epoch seconds (integer or fractional) or, leniently,
// an RFC 3339 string.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		parsed, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return Serialization("Timestamp %q is neither epoch seconds nor RFC 3339", s)
		}
		t.Time = parsed
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return Serialization("Timestamp %s is not epoch seconds", string(b))
	}
	sec := int64(f)
	t.Time = time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
	return nil
}
