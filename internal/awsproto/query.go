package awsproto

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
)

// QueryContentType is the content type of Query protocol responses.
const QueryContentType = "text/xml"

// WriteQuery writes a Query protocol success response:
//
//	<ActionResponse xmlns="ns"><ActionResult>…</ActionResult>
//	<ResponseMetadata><RequestId>…</RequestId></ResponseMetadata></ActionResponse>
//
// result is marshalled with encoding/xml as the content of ActionResult; a
// nil result leaves the Result element out, as AWS does for actions that
// return nothing (DeleteUser, for one).
func WriteQuery(w http.ResponseWriter, action, namespace, requestID string, result any) error {
	var buf bytes.Buffer
	buf.WriteString(`<` + action + `Response xmlns="` + namespace + `">`)
	if result != nil {
		enc := xml.NewEncoder(&buf)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			return err
		}
		if err := enc.Flush(); err != nil {
			return err
		}
	}
	buf.WriteString(`<ResponseMetadata><RequestId>`)
	_ = xml.EscapeText(&buf, []byte(requestID))
	buf.WriteString(`</RequestId></ResponseMetadata></` + action + `Response>`)
	h := w.Header()
	h.Set("Content-Type", QueryContentType)
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(buf.Bytes())
	return err
}

// WriteQueryError renders e in the Query protocol's ErrorResponse shape.
func WriteQueryError(w http.ResponseWriter, namespace, requestID string, e *Error) {
	type errorBody struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	fault := "Sender"
	if e.Receiver {
		fault = "Receiver"
	}
	doc := struct {
		XMLName   xml.Name  `xml:"ErrorResponse"`
		Xmlns     string    `xml:"xmlns,attr,omitempty"`
		Error     errorBody `xml:"Error"`
		RequestID string    `xml:"RequestId"`
	}{Xmlns: namespace, Error: errorBody{fault, e.Code, e.Message}, RequestID: requestID}
	body, _ := xml.Marshal(doc)
	h := w.Header()
	h.Set("Content-Type", QueryContentType)
	h.Set("X-Amzn-Requestid", requestID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// QueryMembers reads a Query protocol list such as Tags.member.1.Key,
// Tags.member.2.Key…: it returns, for prefix "Tags.member", one url.Values
// per index (keyed by the suffix after the index, "" for scalar lists),
// stopping at the first missing index as AWS does.
func QueryMembers(form url.Values, prefix string) []url.Values {
	var out []url.Values
	for i := 1; ; i++ {
		p := prefix + "." + strconv.Itoa(i)
		item := url.Values{}
		for k, v := range form {
			switch {
			case k == p:
				item[""] = v
			case len(k) > len(p) && k[:len(p)+1] == p+".":
				item[k[len(p)+1:]] = v
			}
		}
		if len(item) == 0 {
			return out
		}
		out = append(out, item)
	}
}
