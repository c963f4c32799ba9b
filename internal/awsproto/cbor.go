package awsproto

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// Smithy RPC v2 CBOR is the protocol newer AWS SDKs choose for some JSON
// services (aws-sdk-go-v2's acmpca since v1.57): POST
// /service/<ServiceName>/operation/<Operation>, bodies in CBOR, blobs as
// byte strings and timestamps as tag 1. Bulwark serves it by transcoding:
// the request body becomes the equivalent JSON 1.1 body (so every JSON
// handler serves both protocols unchanged) and the typed output is encoded
// straight to CBOR, where the Go types tell blobs and timestamps apart.

// CBORContentType is the content type of Smithy RPC v2 CBOR bodies.
const CBORContentType = "application/cbor"

// SmithyProtocolHeader names the protocol on requests and responses.
const SmithyProtocolHeader = "Smithy-Protocol"

// maxCBORDepth bounds nesting of untrusted input, as JSON decoding is.
const maxCBORDepth = 64

// CBORToJSON converts a CBOR request body into the JSON 1.1 body an AWS
// SDK would have sent for the same input. Malformed input is a
// SerializationException, and so is a body beyond the decoding bounds
// (nesting, number of values, size of the JSON), checked before anything
// is decoded.
func CBORToJSON(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return []byte("{}"), nil
	}
	if err := checkCBOR(body); err != nil {
		return nil, err
	}
	v, err := cbor.Decode(body)
	if err != nil {
		return nil, Serialization("Malformed CBOR body: %v", err)
	}
	g, err := cborToGo(v, 0)
	if err != nil {
		return nil, err
	}
	if _, ok := g.(map[string]any); !ok {
		return nil, Serialization("The CBOR body must be a map")
	}
	out, err := json.Marshal(g)
	if err != nil {
		return nil, Serialization("Unsupported CBOR value: %v", err)
	}
	return out, nil
}

func cborToGo(v cbor.Value, depth int) (any, error) {
	if depth > maxCBORDepth {
		return nil, Serialization("CBOR body nested more than %d levels", maxCBORDepth)
	}
	switch x := v.(type) {
	case cbor.Map:
		m := make(map[string]any, len(x))
		for k, e := range x {
			g, err := cborToGo(e, depth+1)
			if err != nil {
				return nil, err
			}
			if g != nil {
				m[k] = g
			}
		}
		return m, nil
	case cbor.List:
		l := make([]any, 0, len(x))
		for _, e := range x {
			g, err := cborToGo(e, depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, g)
		}
		return l, nil
	case cbor.Slice:
		return base64.StdEncoding.EncodeToString(x), nil
	case cbor.String:
		return string(x), nil
	case cbor.Uint:
		return json.Number(strconv.FormatUint(uint64(x), 10)), nil
	case cbor.NegInt:
		if x == 0 {
			return nil, Serialization("CBOR integer out of range")
		}
		return json.Number("-" + strconv.FormatUint(uint64(x), 10)), nil
	case cbor.Float32:
		return finite(float64(x))
	case cbor.Float64:
		return finite(float64(x))
	case cbor.Bool:
		return bool(x), nil
	case *cbor.Nil, *cbor.Undefined:
		return nil, nil
	case *cbor.Tag:
		if x.ID == 1 { // epoch-based date/time: a JSON timestamp is the same number
			return cborToGo(x.Value, depth+1)
		}
		return nil, Serialization("Unsupported CBOR tag %d", x.ID)
	}
	return nil, Serialization("Unsupported CBOR value %T", v)
}

func finite(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, Serialization("CBOR number is not finite")
	}
	return f, nil
}

// EncodeCBOR encodes an operation output for RPC v2 CBOR, using the JSON
// member names of v's struct tags: []byte becomes a byte string, Time and
// time.Time a tag-1 timestamp, nil and omitempty-empty members are left
// out.
func EncodeCBOR(v any) ([]byte, error) {
	if v == nil {
		return cbor.Encode(cbor.Map{}), nil
	}
	cv, err := goToCBOR(reflect.ValueOf(v), 0)
	if err != nil {
		return nil, err
	}
	if cv == nil {
		cv = cbor.Map{}
	}
	return cbor.Encode(cv), nil
}

var (
	timeType        = reflect.TypeOf(time.Time{})
	awsTimeType     = reflect.TypeOf(Time{})
	jsonMarshalType = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
)

func epochTag(t time.Time) cbor.Value {
	return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(t.UnixMilli()) / 1000)}
}

// goToCBOR returns nil for values JSON would write as null.
func goToCBOR(v reflect.Value, depth int) (cbor.Value, error) {
	if depth > maxCBORDepth {
		return nil, fmt.Errorf("awsproto: output nested more than %d levels", maxCBORDepth)
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil, nil
		}
		v = v.Elem()
	}
	switch v.Type() {
	case timeType:
		return epochTag(v.Interface().(time.Time)), nil
	case awsTimeType:
		return epochTag(v.Interface().(Time).Time), nil
	}
	if v.Type().Implements(jsonMarshalType) && v.Kind() != reflect.Struct {
		// A custom JSON shape (a string enum with its own marshaller, say):
		// carry its JSON meaning across.
		return jsonValueToCBOR(v.Interface())
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type().Implements(jsonMarshalType) {
			return jsonValueToCBOR(v.Interface())
		}
		m := cbor.Map{}
		for _, f := range structFields(v.Type()) {
			fv := v.FieldByIndex(f.index)
			if f.omitEmpty && fv.IsZero() {
				continue
			}
			cv, err := goToCBOR(fv, depth+1)
			if err != nil {
				return nil, err
			}
			if cv != nil {
				m[f.name] = cv
			}
		}
		return m, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, nil
		}
		m := cbor.Map{}
		iter := v.MapRange()
		for iter.Next() {
			cv, err := goToCBOR(iter.Value(), depth+1)
			if err != nil {
				return nil, err
			}
			if cv != nil {
				m[fmt.Sprint(iter.Key().Interface())] = cv
			}
		}
		return m, nil
	case reflect.Slice:
		if v.IsNil() {
			return nil, nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return cbor.Slice(v.Bytes()), nil
		}
		fallthrough
	case reflect.Array:
		l := make(cbor.List, 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			cv, err := goToCBOR(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			if cv == nil {
				cv = &cbor.Nil{}
			}
			l = append(l, cv)
		}
		return l, nil
	case reflect.String:
		return cbor.String(v.String()), nil
	case reflect.Bool:
		return cbor.Bool(v.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intValue(v.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return cbor.Uint(v.Uint()), nil
	case reflect.Float32, reflect.Float64:
		return cbor.Float64(v.Float()), nil
	}
	return nil, fmt.Errorf("awsproto: cannot encode %s as CBOR", v.Type())
}

func intValue(i int64) cbor.Value {
	if i < 0 {
		return cbor.NegInt(uint64(-i))
	}
	return cbor.Uint(uint64(i))
}

// jsonValueToCBOR encodes a value through its JSON form, for types with
// their own MarshalJSON.
func jsonValueToCBOR(v any) (cbor.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var g any
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&g); err != nil {
		return nil, err
	}
	return genericToCBOR(g), nil
}

func genericToCBOR(g any) cbor.Value {
	switch x := g.(type) {
	case map[string]any:
		m := cbor.Map{}
		for k, e := range x {
			if e != nil {
				m[k] = genericToCBOR(e)
			}
		}
		return m
	case []any:
		l := make(cbor.List, 0, len(x))
		for _, e := range x {
			if e == nil {
				l = append(l, &cbor.Nil{})
				continue
			}
			l = append(l, genericToCBOR(e))
		}
		return l
	case string:
		return cbor.String(x)
	case bool:
		return cbor.Bool(x)
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return intValue(i)
		}
		f, _ := x.Float64()
		return cbor.Float64(f)
	}
	return &cbor.Nil{}
}

type cborField struct {
	index     []int
	name      string
	omitEmpty bool
}

var fieldCache sync.Map // reflect.Type -> []cborField

// structFields lists the members encoding/json would write, with their
// names, including promoted fields of embedded structs.
func structFields(t reflect.Type) []cborField {
	if c, ok := fieldCache.Load(t); ok {
		return c.([]cborField)
	}
	var out []cborField
	var walk func(t reflect.Type, index []int)
	walk = func(t reflect.Type, index []int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			idx := append(append([]int{}, index...), i)
			if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
				walk(sf.Type, idx)
				continue
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			out = append(out, cborField{index: idx, name: name, omitEmpty: strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")})
		}
	}
	walk(t, nil)
	fieldCache.Store(t, out)
	return out
}

// WriteCBOR writes an RPC v2 CBOR success response.
func WriteCBOR(w http.ResponseWriter, requestID string, v any) error {
	body, err := EncodeCBOR(v)
	if err != nil {
		return err
	}
	writeCBORBody(w, http.StatusOK, requestID, "", body)
	return nil
}

// WriteCBORError renders e as RPC v2 CBOR: a map with "__type" and
// "message", as the SDKs read it.
func WriteCBORError(w http.ResponseWriter, requestID string, e *Error) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	body := cbor.Encode(cbor.Map{"__type": cbor.String(e.Code), "message": cbor.String(e.Message)})
	writeCBORBody(w, status, requestID, e.Code, body)
}

func writeCBORBody(w http.ResponseWriter, status int, requestID, errType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", CBORContentType)
	h.Set(SmithyProtocolHeader, "rpc-v2-cbor")
	h.Set("X-Amzn-Requestid", requestID)
	if errType != "" {
		h.Set("X-Amzn-Errortype", errType)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
