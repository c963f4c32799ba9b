// Command floor is the do-nothing HTTP server sdkcpu measures beside
// Bulwark (-floor): net/http with default settings answering every request
// with a fixed sts:GetCallerIdentity response, no signature check, no
// audit. Its CPU per request is what the SDK's traffic costs any Go
// net/http server on the machine: the floor under Bulwark's figures.
//
// With FLOOR_LOOP=1 in its environment it serves the same answer from a
// minimal hand-written HTTP/1.1 loop instead (one goroutine per
// connection, headers read with one bufio.Reader, no background read, no
// per-request allocations beyond the header lines): what the traffic costs
// when net/http's own per-request work is gone, i.e. the most a
// purpose-built server loop could save. It is a measuring device only: it
// enforces none of a real server's limits and understands only
// Content-Length bodies.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
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
	if os.Getenv("FLOOR_LOOP") != "" {
		for {
			c, err := ln.Accept()
			if err != nil {
				fmt.Fprintln(os.Stderr, "floor:", err)
				os.Exit(1)
			}
			go serveLoop(c)
		}
	}
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/xml")
		w.Header().Set("X-Amzn-Requestid", "01234567-89ab-cdef-0123-456789abcdef")
		_, _ = io.WriteString(w, response)
	}))
	fmt.Fprintln(os.Stderr, "floor:", err)
	os.Exit(1)
}

var reply = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nX-Amzn-Requestid: 01234567-89ab-cdef-0123-456789abcdef\r\n" +
	"Content-Length: " + strconv.Itoa(len(response)) + "\r\n\r\n" + response)

// serveLoop answers requests on c until it closes or sends something the
// loop does not understand.
func serveLoop(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	for {
		n := int64(0)
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				break
			}
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
				n, err = strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
				if err != nil || n < 0 {
					return
				}
			}
		}
		if _, err := r.Discard(int(n)); err != nil {
			return
		}
		if _, err := c.Write(reply); err != nil {
			return
		}
	}
}
