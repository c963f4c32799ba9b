package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/cbor"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/server"
	"github.com/bulwarkd/bulwark/internal/server/servertest"
	"github.com/bulwarkd/bulwark/internal/store"
)

// echoInput exercises every decoding rule of the JSON 1.1 adapter.
type echoInput struct {
	Name  *string `json:"Name" required:"true"`
	Count *int    `json:"Count"`
	Blob  []byte  `json:"Blob"`
	Tags  []struct {
		Key   string `json:"Key"`
		Value string `json:"Value"`
	} `json:"Tags"`
}

type echoOutput struct {
	Name  string `json:"Name"`
	Count int    `json:"Count"`
	Blob  []byte `json:"Blob,omitempty"`
}

// testService is a JSON 1.1 service that writes a record per call, so a
// test can check that refused input wrote nothing.
func testService(st func() store.Store) *api.Service {
	return &api.Service{
		Name: "bulwarktest", EventSource: "bulwarktest.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "BulwarkTest",
		Operations: map[string]api.Operation{
			"Echo": {Handler: api.JSON(func(ctx context.Context, c *api.Call, in *echoInput) (*echoOutput, error) {
				if err := c.Authorize(ctx, api.AuthzRequest{Action: "bulwarktest:Echo", Resource: "arn:aws:bulwarktest:::thing/" + *in.Name}); err != nil {
					return nil, err
				}
				err := st().Tx(ctx, func(tx store.Tx) error {
					return tx.Put(ctx, &store.Record{Kind: "test/echo", ID: *in.Name, Data: []byte(`{}`)})
				})
				if err != nil {
					return nil, err
				}
				out := &echoOutput{Name: *in.Name, Blob: in.Blob}
				if in.Count != nil {
					out.Count = *in.Count
				}
				return out, nil
			})},
		},
	}
}

func TestJSONProtocolBadInput(t *testing.T) {
	var srv *servertest.Server
	svc := testService(func() store.Store { return srv.Store() })
	srv = servertest.Start(t, func(c *server.Config) {
		c.ExtraServices = append(c.ExtraServices, svc)
		c.MaxBodyBytes = 4096
	})
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantType   string
		wantMsg    string
	}{
		{"valid", `{"Name":"a","Count":3,"Blob":"aGk="}`, 200, "", `"Blob":"aGk="`},
		{"empty body means empty input", ``, 400, "ValidationException", "Value null at 'name'"},
		{"malformed JSON", `{"Name":"a",`, 400, "SerializationException", "Malformed JSON"},
		{"not an object", `[1,2]`, 400, "SerializationException", ""},
		{"wrong type for a member", `{"Name":"a","Count":"three"}`, 400, "SerializationException", "'Count'"},
		{"wrong type nested", `{"Name":"a","Tags":[{"Key":1}]}`, 400, "SerializationException", "Tags.Key"},
		{"bad base64 blob", `{"Name":"a","Blob":"!!!"}`, 400, "SerializationException", "base64"},
		{"missing required member", `{"Count":1}`, 400, "ValidationException", "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null"},
		{"trailing garbage", `{"Name":"a"} x`, 400, "SerializationException", ""},
		{"body over the limit", `{"Name":"` + strings.Repeat("x", 5000) + `"}`, 400, "ValidationException", "limit of 4096 bytes"},
		{"unknown members are ignored", `{"Name":"b","Surprise":true}`, 200, "", `"Name":"b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := signedRequest(t, srv, "bulwarktest", "BulwarkTest.Echo", "application/x-amz-json-1.1", []byte(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, b)
			}
			if tc.wantType != "" {
				var e struct {
					Type    string `json:"__type"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal(b, &e); err != nil {
					t.Fatalf("error body is not JSON: %s", b)
				}
				if e.Type != tc.wantType || resp.Header.Get("X-Amzn-Errortype") != tc.wantType {
					t.Errorf("__type %q / header %q, want %q", e.Type, resp.Header.Get("X-Amzn-Errortype"), tc.wantType)
				}
				if !strings.Contains(e.Message, tc.wantMsg) {
					t.Errorf("message %q does not contain %q", e.Message, tc.wantMsg)
				}
			} else if !strings.Contains(string(b), tc.wantMsg) {
				t.Errorf("body %s does not contain %s", b, tc.wantMsg)
			}
		})
	}
	// Only the two valid calls wrote anything.
	recs, err := srv.Store().List(context.Background(), "test/echo", store.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 {
		t.Errorf("%d records written, want 2 (refused input must write nothing)", len(recs))
	}
}

// TestUnsignedPayloadRefusedWithBody: a body nobody signed must not be
// accepted, or a captured request could be replayed with another body.
func TestUnsignedPayloadRefusedWithBody(t *testing.T) {
	srv := servertest.Start(t)
	body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	creds := aws.Credentials{AccessKeyID: servertest.RootAccessKeyID, SecretAccessKey: servertest.RootSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, "UNSIGNED-PAYLOAD", "sts", servertest.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 || !strings.Contains(string(b), "<Code>IncompleteSignature</Code>") {
		t.Errorf("unsigned body accepted or wrong error: %d %s", resp.StatusCode, b)
	}
}

// TestHandlerThatSkipsAuthorizationFailsClosed registers an operation that
// forgets to call Authorize: the server must not return its result.
func TestHandlerThatSkipsAuthorizationFailsClosed(t *testing.T) {
	svc := &api.Service{Name: "careless", EventSource: "careless.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "Careless",
		Operations: map[string]api.Operation{
			"Leak": {Handler: func(context.Context, *api.Call) (any, error) { return map[string]string{"Secret": "oops"}, nil }},
		}}
	srv := servertest.Start(t, func(c *server.Config) { c.ExtraServices = append(c.ExtraServices, svc) })
	resp, err := http.DefaultClient.Do(signedRequest(t, srv, "careless", "Careless.Leak", "application/x-amz-json-1.1", []byte("{}")))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || strings.Contains(string(b), "oops") || !strings.Contains(string(b), "InternalFailure") {
		t.Errorf("unauthorized handler result escaped: %d %s", resp.StatusCode, b)
	}
}

// TestRESTJSONRouting drives a REST-JSON test service: path captures,
// query strings, method mismatch and unknown paths.
func TestRESTJSONRouting(t *testing.T) {
	type thing struct {
		Name  string `json:"name"`
		Color string `json:"color,omitempty"`
		Limit string `json:"limit,omitempty"`
	}
	handler := func(ctx context.Context, c *api.Call) (any, error) {
		if err := c.Authorize(ctx, api.AuthzRequest{Action: "things:Get", Resource: "arn:aws:things:::thing/" + c.PathParams["thingName"]}); err != nil {
			return nil, err
		}
		return thing{Name: c.PathParams["thingName"], Limit: c.Query.Get("limit")}, nil
	}
	create := api.JSON(func(ctx context.Context, c *api.Call, in *thing) (*thing, error) {
		if err := c.Authorize(ctx, api.AuthzRequest{Action: "things:Create", Resource: "*"}); err != nil {
			return nil, err
		}
		c.HTTPStatus = http.StatusCreated
		in.Name = c.PathParams["thingName"]
		return in, nil
	})
	svc := &api.Service{Name: "things", EventSource: "things.amazonaws.com", Protocol: api.RESTJSON,
		Operations: map[string]api.Operation{"GetThing": {Handler: handler}, "PutThing": {Handler: create}},
		REST: []api.RESTRoute{
			{Method: http.MethodGet, Path: "/v1/things/{thingName}", Operation: "GetThing"},
			{Method: http.MethodPut, Path: "/v1/things/{thingName}", Operation: "PutThing"},
		}}
	srv := servertest.Start(t, func(c *server.Config) { c.ExtraServices = append(c.ExtraServices, svc) })
	do := func(method, path, body string) (int, string, string) {
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: servertest.RootAccessKeyID, SecretAccessKey: servertest.RootSecretAccessKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "things", servertest.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), string(b)
	}
	tests := []struct {
		name, method, path, body string
		status                   int
		errType, contains        string
	}{
		{"get with capture and query", "GET", "/v1/things/blue%20box?limit=3", "", 200, "", `{"name":"blue box","limit":"3"}`},
		{"put with body and status", "PUT", "/v1/things/x", `{"color":"red"}`, 201, "", `"color":"red"`},
		{"put with a malformed body", "PUT", "/v1/things/x", `{"color":`, 400, "SerializationException", ""},
		{"method not allowed", "DELETE", "/v1/things/x", "", 405, "UnknownOperationException", ""},
		{"unknown path", "GET", "/v1/nothing", "", 404, "UnknownOperationException", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, errType, body := do(tc.method, tc.path, tc.body)
			if status != tc.status || errType != tc.errType || !strings.Contains(body, tc.contains) {
				t.Errorf("got %d %q %s", status, errType, body)
			}
		})
	}
}

// TestRPCv2CBOR drives the JSON 1.1 test service in Smithy RPC v2 CBOR, as
// newer SDKs do: blobs travel as byte strings both ways, errors carry
// __type, and bad CBOR is a SerializationException.
func TestRPCv2CBOR(t *testing.T) {
	var srv *servertest.Server
	svc := testService(func() store.Store { return srv.Store() })
	srv = servertest.Start(t, func(c *server.Config) { c.ExtraServices = append(c.ExtraServices, svc) })
	send := func(path string, body []byte) (int, cbor.Value) {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Smithy-Protocol", "rpc-v2-cbor")
		req.Header.Set("Content-Type", "application/cbor")
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: servertest.RootAccessKeyID, SecretAccessKey: servertest.RootSecretAccessKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "bulwarktest", servertest.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" || resp.Header.Get("Content-Type") != "application/cbor" {
			t.Errorf("response headers %v", resp.Header)
		}
		v, err := cbor.Decode(b)
		if err != nil {
			t.Fatalf("response is not CBOR: %v (%x)", err, b)
		}
		return resp.StatusCode, v
	}
	status, v := send("/service/BulwarkTest/operation/Echo", cbor.Encode(cbor.Map{
		"Name": cbor.String("c"), "Count": cbor.Uint(7), "Blob": cbor.Slice{0, 1, 2, 0xff},
	}))
	m, _ := v.(cbor.Map)
	if status != 200 || m["Name"] != cbor.String("c") || m["Count"] != cbor.Uint(7) {
		t.Fatalf("echo: %d %#v", status, v)
	}
	if blob, ok := m["Blob"].(cbor.Slice); !ok || !bytes.Equal(blob, []byte{0, 1, 2, 0xff}) {
		t.Errorf("blob did not come back as a byte string: %#v", m["Blob"])
	}
	tests := []struct {
		name, path string
		body       []byte
		status     int
		errType    string
	}{
		{"missing required member", "/service/BulwarkTest/operation/Echo", cbor.Encode(cbor.Map{"Count": cbor.Uint(1)}), 400, "ValidationException"},
		{"malformed CBOR", "/service/BulwarkTest/operation/Echo", []byte{0xbf, 0x61}, 400, "SerializationException"},
		{"not a map", "/service/BulwarkTest/operation/Echo", cbor.Encode(cbor.List{}), 400, "SerializationException"},
		{"unknown operation", "/service/BulwarkTest/operation/Nope", cbor.Encode(cbor.Map{}), 404, "UnknownOperationException"},
		{"unknown service", "/service/Nope/operation/Echo", cbor.Encode(cbor.Map{}), 404, "UnknownOperationException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, v := send(tc.path, tc.body)
			m, _ := v.(cbor.Map)
			if status != tc.status || m["__type"] != cbor.String(tc.errType) {
				t.Errorf("got %d %#v", status, v)
			}
		})
	}
}
