// Command floor is the do-nothing HTTP server sdkcpu measures beside
// Bulwark (-floor): net/http with default settings answering every request
// with a fixed sts:GetCallerIdentity response, no signature check, no
// audit. Its CPU per request is what the SDK's traffic costs any Go
// net/http server on the machine: the floor under Bulwark's figures.
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

const response = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>` +
	`<Arn>arn:aws:iam::000000000000:root</Arn><UserId>000000000000</UserId><Account>000000000000</Account></GetCallerIdentityResult>` +
	`<ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>`

func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	// The same banner line as `bulwark server --dev`, which sdkcpu reads.
	fmt.Printf("  endpoint   http://%s\n", ln.Addr())
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("X-Amzn-Requestid", "01234567-89ab-cdef-0123-456789abcdef")
		_, _ = io.WriteString(w, response)
	}))
	fmt.Fprintln(os.Stderr, "floor:", err)
	os.Exit(1)
}
