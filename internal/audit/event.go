package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// Values of Event fields that Bulwark always writes the same way.
const (
	// EventVersion is the CloudTrail record version Bulwark's events follow.
	EventVersion = "1.08"
	// EventTypeAPICall is the eventType of an API call's outcome: exactly
	// one per call.
	EventTypeAPICall = "AwsApiCall"
	// EventTypeIntent is the eventType of the write-ahead record the
	// server appends before running a call that may change something
	// (readOnly false); the outcome event with the same requestID follows.
	// An intent without an outcome is a call whose result was not recorded
	// (the log failed, or the process died, while it ran).
	EventTypeIntent = "BulwarkApiCallIntent"
)

// Values of UserIdentity.Type.
const (
	IdentityIAMUser    = "IAMUser"
	IdentityRoot       = "Root"
	IdentityAWSService = "AWSService"
	IdentityUnknown    = "Unknown"
)

// ZeroHash is the previousEventHash of the first line of every log.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxLineBytes bounds one serialised event. Append shortens events to fit
// (see MaxFieldBytes) and Verify reports longer lines as broken, so a
// verifier never needs more memory than this per line.
const MaxLineBytes = 1 << 20

// hashLen is the length of a hex SHA-256.
const hashLen = 64

// Event is one API call, in CloudTrail's field names.
//
// The caller fills everything except PreviousHash and Hash, which Append sets
// once the event is in the log. Append also fills EventVersion, EventType,
// EventID and EventTime when they are empty, and normalises EventTime to UTC
// whole seconds.
type Event struct {
	// EventVersion is the record format version; empty means EventVersion.
	EventVersion string `json:"eventVersion"`
	// EventTime is when the call was made, written as RFC 3339 UTC seconds;
	// zero means Options.Clock's time at Append.
	EventTime time.Time `json:"eventTime"`
	// EventSource is the service endpoint, e.g. "kms.amazonaws.com".
	EventSource string `json:"eventSource"`
	// EventName is the API action, e.g. "Decrypt".
	EventName string `json:"eventName"`
	// AWSRegion is the region the call was made to.
	AWSRegion string `json:"awsRegion"`
	// SourceIPAddress is the caller's address.
	SourceIPAddress string `json:"sourceIPAddress"`
	// UserAgent is the caller's User-Agent header.
	UserAgent string `json:"userAgent"`
	// UserIdentity is who made the call.
	UserIdentity UserIdentity `json:"userIdentity"`
	// RequestParameters are the call's inputs, already passed through redact.Value
	// by the caller; nil is written as null.
	RequestParameters any `json:"requestParameters"`
	// ResponseElements are the call's outputs, already passed through redact.Value;
	// nil is written as null.
	ResponseElements any `json:"responseElements"`
	// ErrorCode is the AWS error code when the call failed.
	ErrorCode string `json:"errorCode,omitempty"`
	// ErrorMessage is the error message when the call failed.
	ErrorMessage string `json:"errorMessage,omitempty"`
	// RequestID is the id returned to the caller (x-amzn-RequestId).
	RequestID string `json:"requestID"`
	// EventID is a random UUID v4 naming this record; empty means Append
	// generates one from Options.Rand.
	EventID string `json:"eventID"`
	// ReadOnly is true for calls that change nothing.
	ReadOnly bool `json:"readOnly"`
	// Resources are the resources the call acted on.
	Resources []Resource `json:"resources,omitempty"`
	// EventType is the kind of event; empty means EventTypeAPICall.
	EventType string `json:"eventType"`
	// RecipientAccountID is the account that owns the resources.
	RecipientAccountID string `json:"recipientAccountId"`
	// AdditionalEventData is CloudTrail's free-form extra data. Append
	// adds the member "elided" listing the paths of values it shortened to
	// keep the event within MaxLineBytes.
	AdditionalEventData map[string]any `json:"additionalEventData,omitempty"`
	// Checkpoint is set on the checkpoint lines the log writes itself
	// (EventType EventTypeCheckpoint); callers leave it nil.
	Checkpoint *Checkpoint `json:"checkpoint,omitempty"`

	// PreviousHash is the eventHash of the line before this one (ZeroHash
	// for the first line); set by Append, any caller value is ignored.
	PreviousHash string `json:"previousEventHash"`
	// MAC is this line's eventHmac when the log is keyed; set by Append.
	MAC string `json:"eventHmac,omitempty"`
	// Hash is this line's eventHash, always the last member of the line;
	// set by Append, any caller value is ignored. It is omitempty only so
	// that the writer can serialise the event without it and splice it in.
	Hash string `json:"eventHash,omitempty"`
}

// UserIdentity is CloudTrail's userIdentity element.
type UserIdentity struct {
	// Type is one of IdentityIAMUser, IdentityRoot, IdentityAWSService,
	// IdentityUnknown.
	Type        string `json:"type"`
	PrincipalID string `json:"principalId,omitempty"`
	ARN         string `json:"arn,omitempty"`
	AccountID   string `json:"accountId,omitempty"`
	AccessKeyID string `json:"accessKeyId,omitempty"`
	UserName    string `json:"userName,omitempty"`
	// InvokedBy names the service that made the call for IdentityAWSService.
	InvokedBy string `json:"invokedBy,omitempty"`
}

// Resource is one element of CloudTrail's resources list.
type Resource struct {
	ARN       string `json:"ARN"`
	AccountID string `json:"accountId,omitempty"`
	// Type is the CloudFormation-style type, e.g. "AWS::KMS::Key".
	Type string `json:"type"`
}

// prevSuffix is how every serialised event without its hash ends, with a
// placeholder previous hash that the writer overwrites in place.
const prevSuffix = `,"previousEventHash":"` + ZeroHash + `"}`

// hashMember is spliced in before the final '}' of a line; macMember before
// it in a keyed log. Both are the same length.
const (
	hashMember = `,"eventHash":"`
	macMember  = `,"eventHmac":"`
)

// errTooLarge is returned (wrapped) for events over MaxLineBytes.
var errTooLarge = errors.New("audit: event too large")

// marshalLine serialises e for the writer: PreviousHash is the placeholder
// ZeroHash (at a fixed offset from the end) and Hash is left out. e is not
// modified. pre, from bound, may hold the trees' JSON already; nil means
// none.
//
// The bytes are exactly what json.Marshal writes for the same event (the
// log's hash chain covers them, and logs written before this encoder must
// read the same): appendEvent writes the fixed fields by hand, and falls
// back to json.Marshal for anything it does not handle the same way.
// TestMarshalLineMatchesEncodingJSON and FuzzMarshalLine hold it to that.
func marshalLine(e *Event, pre *trees) ([]byte, error) {
	return appendLine(make([]byte, 0, 1024), e, pre)
}

// appendLine is marshalLine appending to b (whose contents are kept).
func appendLine(b []byte, e *Event, pre *trees) ([]byte, error) {
	start := len(b)
	b, err := appendEvent(b, e, pre)
	if err != nil {
		return nil, fmt.Errorf("audit: marshal event: %w", err)
	}
	line := b[start:]
	// The whole spliced line must fit the verifier's bound.
	if len(line)+len(macMember)+len(hashMember)+2*hashLen+3 > MaxLineBytes {
		return nil, fmt.Errorf("%w: %d bytes", errTooLarge, len(line))
	}
	// Guards the splicing against someone reordering Event's fields.
	if !bytes.HasSuffix(line, []byte(prevSuffix)) {
		return nil, errors.New("audit: internal error: event does not end with previousEventHash")
	}
	return b, nil
}

// appendEvent appends e as json.Marshal(e) would write it. The field order
// and omitempty rules are Event's struct tags; a change to Event must be
// made here too (the equality tests fail until it is).
//
// It writes the line as the writer needs it, whatever e holds there:
// previousEventHash is the placeholder ZeroHash, eventHmac and eventHash
// are left out.
func appendEvent(b []byte, e *Event, pre *trees) ([]byte, error) {
	if y := e.EventTime.Year(); e.EventTime.Location() != time.UTC || y < 0 || y > 9999 {
		// Time.MarshalJSON's rules for zones and odd years, as they are.
		c := *e
		c.PreviousHash = ZeroHash
		c.Hash, c.MAC = "", ""
		j, err := json.Marshal(&c)
		return append(b, j...), err
	}
	if pre == nil {
		pre = &trees{}
	}
	b = append(b, `{"eventVersion":`...)
	b = appendString(b, e.EventVersion)
	b = append(b, `,"eventTime":"`...)
	b = e.EventTime.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","eventSource":`...)
	b = appendString(b, e.EventSource)
	b = append(b, `,"eventName":`...)
	b = appendString(b, e.EventName)
	b = append(b, `,"awsRegion":`...)
	b = appendString(b, e.AWSRegion)
	b = append(b, `,"sourceIPAddress":`...)
	b = appendString(b, e.SourceIPAddress)
	b = append(b, `,"userAgent":`...)
	b = appendString(b, e.UserAgent)
	u := &e.UserIdentity
	b = append(b, `,"userIdentity":{"type":`...)
	b = appendString(b, u.Type)
	b = appendOmitEmpty(b, `,"principalId":`, u.PrincipalID)
	b = appendOmitEmpty(b, `,"arn":`, u.ARN)
	b = appendOmitEmpty(b, `,"accountId":`, u.AccountID)
	b = appendOmitEmpty(b, `,"accessKeyId":`, u.AccessKeyID)
	b = appendOmitEmpty(b, `,"userName":`, u.UserName)
	b = appendOmitEmpty(b, `,"invokedBy":`, u.InvokedBy)
	b = append(b, `},"requestParameters":`...)
	var err error
	if b, err = appendTree(b, e.RequestParameters, pre.params); err != nil {
		return nil, err
	}
	b = append(b, `,"responseElements":`...)
	if b, err = appendTree(b, e.ResponseElements, pre.response); err != nil {
		return nil, err
	}
	b = appendOmitEmpty(b, `,"errorCode":`, e.ErrorCode)
	b = appendOmitEmpty(b, `,"errorMessage":`, e.ErrorMessage)
	b = append(b, `,"requestID":`...)
	b = appendString(b, e.RequestID)
	b = append(b, `,"eventID":`...)
	b = appendString(b, e.EventID)
	b = append(b, `,"readOnly":`...)
	b = strconv.AppendBool(b, e.ReadOnly)
	if len(e.Resources) > 0 {
		b = append(b, `,"resources":[`...)
		for i := range e.Resources {
			r := &e.Resources[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"ARN":`...)
			b = appendString(b, r.ARN)
			b = appendOmitEmpty(b, `,"accountId":`, r.AccountID)
			b = append(b, `,"type":`...)
			b = appendString(b, r.Type)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"eventType":`...)
	b = appendString(b, e.EventType)
	b = append(b, `,"recipientAccountId":`...)
	b = appendString(b, e.RecipientAccountID)
	if len(e.AdditionalEventData) > 0 {
		b = append(b, `,"additionalEventData":`...)
		if b, err = appendTree(b, e.AdditionalEventData, pre.additional); err != nil {
			return nil, err
		}
	}
	if cp := e.Checkpoint; cp != nil {
		b = append(b, `,"checkpoint":{"reason":`...)
		b = appendString(b, cp.Reason)
		b = appendOmitEmpty(b, `,"publicKey":`, cp.PublicKey)
		b = appendOmitEmpty(b, `,"signature":`, cp.Signature)
		b = append(b, '}')
	}
	return append(b, prevSuffix...), nil
}

// appendTree appends json.Marshal(v), or pre when bound already made it.
func appendTree(b []byte, v any, pre []byte) ([]byte, error) {
	if pre != nil {
		return append(b, pre...), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendOmitEmpty appends member (`,"name":`) and s unless s is empty.
func appendOmitEmpty(b []byte, member, s string) []byte {
	if s == "" {
		return b
	}
	return appendString(append(b, member...), s)
}

// appendString appends s as a JSON string the way encoding/json does with
// HTML escaping on (its default): `"`, `\` and control characters
// escaped, with \b \f \n \r \t short forms; `<`, `>`, `&`, U+2028 and
// U+2029 as \u escapes; each byte of invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
