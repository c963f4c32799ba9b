package auditapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkd/bulwark/internal/api"
	"github.com/bulwarkd/bulwark/internal/audit"
	"github.com/bulwarkd/bulwark/internal/awsproto"
	"github.com/bulwarkd/bulwark/internal/policy"
)

// ScanBudget bounds the bytes one LookupEvents call reads: a filter that
// matches nothing answers with what it found so far and a NextToken to go
// on, instead of reading a whole log per call.
const ScanBudget = 32 << 20

// Config is what the API reads.
type Config struct {
	// Path is the current audit log file; rotated files are Path.<time>.
	Path string
	// Keys check every eventHmac and checkpoint signature (current master
	// key first, then retired ones); nil checks the unkeyed chain only.
	Keys      []*audit.Keys
	AccountID string
	Region    string
}

// Service serves the API.
type Service struct {
	cfg Config
	// Reading the log costs disk and CPU: one whole-log verification and
	// a few lookups at a time; the rest wait, for as long as their
	// request lasts, and are then told to retry.
	verify  chan struct{}
	lookups chan struct{}
}

// maxLookups bounds concurrent LookupEvents calls (each reads up to
// maxScanBytes).
const maxLookups = 2

// New returns the service.
func New(cfg Config) *Service {
	return &Service{cfg: cfg, verify: make(chan struct{}, 1), lookups: make(chan struct{}, maxLookups)}
}

// acquire takes a slot of sem, or gives up when ctx ends with AWS's
// throttling error. The returned func releases the slot.
func acquire(ctx context.Context, sem chan struct{}) (func(), error) {
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, &awsproto.Error{Code: "ThrottlingException", Message: "Other audit log reads are running; retry later.", Status: http.StatusBadRequest}
	}
}

// API describes the service for the server.
func (s *Service) API() *api.Service {
	return &api.Service{Name: "bulwark", EventSource: "bulwark.amazonaws.com", Protocol: api.JSON11, TargetPrefix: "BulwarkAudit",
		Operations: map[string]api.Operation{
			"LookupEvents":   {Handler: api.JSON(s.apiLookup), ReadOnly: true},
			"VerifyAuditLog": {Handler: api.JSON(s.apiVerify), ReadOnly: true},
		}}
}

func (s *Service) arn() string {
	return "arn:aws:bulwark:" + s.cfg.Region + ":" + s.cfg.AccountID + ":audit-log/default"
}

// files lists the log's files newest first: the current one, then the
// rotated ones (their names sort in rotation order).
func (s *Service) files() []string {
	rotated, _ := filepath.Glob(s.cfg.Path + ".2*")
	slices.Sort(rotated)
	slices.Reverse(rotated)
	return append([]string{s.cfg.Path}, rotated...)
}

type lookupAttribute struct {
	AttributeKey   string `json:"AttributeKey"`
	AttributeValue string `json:"AttributeValue"`
}

type lookupInput struct {
	LookupAttributes []lookupAttribute `json:"LookupAttributes"`
	// Text matches anywhere in the event (case-insensitive).
	Text       string         `json:"Text"`
	StartTime  *awsproto.Time `json:"StartTime"`
	EndTime    *awsproto.Time `json:"EndTime"`
	MaxResults int            `json:"MaxResults"`
	NextToken  string         `json:"NextToken"`
}

type resource struct {
	ResourceName string `json:"ResourceName"`
	ResourceType string `json:"ResourceType,omitempty"`
}

type event struct {
	EventID         string         `json:"EventId"`
	EventTime       *awsproto.Time `json:"EventTime"`
	EventSource     string         `json:"EventSource"`
	EventName       string         `json:"EventName"`
	EventType       string         `json:"EventType"`
	Username        string         `json:"Username,omitempty"`
	PrincipalArn    string         `json:"PrincipalArn,omitempty"`
	AccessKeyID     string         `json:"AccessKeyId,omitempty"`
	ReadOnly        bool           `json:"ReadOnly"`
	ErrorCode       string         `json:"ErrorCode,omitempty"`
	ErrorMessage    string         `json:"ErrorMessage,omitempty"`
	SourceIPAddress string         `json:"SourceIPAddress,omitempty"`
	Resources       []resource     `json:"Resources,omitempty"`
	CloudTrailEvent string         `json:"CloudTrailEvent"`
}

type lookupOutput struct {
	Events    []event `json:"Events"`
	NextToken string  `json:"NextToken,omitempty"`
}

// token is where the next page starts: lines of file File ending at or
// before Offset, newest first.
type token struct {
	File   string `json:"f"`
	Offset int64  `json:"o"`
}

var keys = map[string]bool{"EventType": true, "EventId": true, "EventName": true, "EventSource": true, "Username": true, "ResourceName": true, "AccessKeyId": true, "ReadOnly": true, "ErrorCode": true}

func (s *Service) apiLookup(ctx context.Context, c *api.Call, in *lookupInput) (*lookupOutput, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "bulwark:LookupAuditEvents", Resource: s.arn(), Mode: policy.Standard, ResourceTags: map[string]string{}}); err != nil {
		return nil, err
	}
	release, err := acquire(ctx, s.lookups)
	if err != nil {
		return nil, err
	}
	defer release()
	max := in.MaxResults
	if max == 0 {
		max = 50
	}
	if max < 1 || max > 50 {
		return nil, awsproto.Validation("MaxResults must be between 1 and 50.")
	}
	if len(in.LookupAttributes) > 5 || len(in.Text) > 256 {
		return nil, awsproto.Validation("At most 5 LookupAttributes and a Text of at most 256 characters.")
	}
	for _, a := range in.LookupAttributes {
		if !keys[a.AttributeKey] {
			return nil, awsproto.Validation("Unknown AttributeKey %q: use EventType, EventId, EventName, EventSource, Username, ResourceName, AccessKeyId, ReadOnly or ErrorCode.", a.AttributeKey)
		}
	}
	files := s.files()
	fi, off := 0, int64(-1)
	if in.NextToken != "" {
		var t token
		raw, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		if err == nil {
			err = json.Unmarshal(raw, &t)
		}
		// Only a file of this log, by base name: a token cannot name
		// another file.
		fi = slices.IndexFunc(files, func(f string) bool { return filepath.Base(f) == t.File })
		if err != nil || fi < 0 || t.Offset < 0 {
			return nil, awsproto.Errorf("InvalidNextTokenException", "The NextToken is not valid (or its file was removed): start again without it.")
		}
		off = t.Offset
	}
	text := bytes.ToLower([]byte(in.Text))
	out := &lookupOutput{Events: []event{}}
	budget := int64(ScanBudget)
	for ; fi < len(files); fi, off = fi+1, -1 {
		f, err := os.Open(files[fi])
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		end := off
		if end < 0 {
			end = st.Size()
		} else if end > st.Size() {
			// Past the end: reading would walk through bytes that do
			// not exist.
			f.Close()
			return nil, awsproto.Errorf("InvalidNextTokenException", "The NextToken is not valid: start again without it.")
		}
		var next *token
		err = backLines(f, end, func(line []byte, start int64) bool {
			budget -= int64(len(line)) + 1
			if len(out.Events) == max || budget < 0 {
				next = &token{File: filepath.Base(files[fi]), Offset: start + int64(len(line)) + 1}
				return false
			}
			if len(text) > 0 && !bytes.Contains(bytes.ToLower(line), text) {
				return true
			}
			if ev, ok := match(line, in); ok {
				out.Events = append(out.Events, ev)
			}
			return true
		})
		f.Close()
		if err != nil {
			return nil, err
		}
		if next != nil {
			b, _ := json.Marshal(next)
			out.NextToken = base64.RawURLEncoding.EncodeToString(b)
			return out, nil
		}
	}
	return out, nil
}

// match parses one line and applies the filters.
func match(line []byte, in *lookupInput) (event, bool) {
	var e audit.Event
	if json.Unmarshal(line, &e) != nil || e.Checkpoint != nil {
		return event{}, false
	}
	if in.StartTime != nil && e.EventTime.Before(in.StartTime.Time) || in.EndTime != nil && e.EventTime.After(in.EndTime.Time) {
		return event{}, false
	}
	// Write-ahead intents are listed only when asked for (EventType
	// BulwarkApiCallIntent): each is followed by its outcome.
	wantType := audit.EventTypeAPICall
	for _, a := range in.LookupAttributes {
		if a.AttributeKey == "EventType" {
			wantType = a.AttributeValue
		}
	}
	if e.EventType != wantType {
		return event{}, false
	}
	ev := event{EventID: e.EventID, EventType: e.EventType, EventTime: awsproto.NewTime(e.EventTime), EventSource: e.EventSource, EventName: e.EventName,
		Username: e.UserIdentity.UserName, PrincipalArn: e.UserIdentity.ARN, AccessKeyID: e.UserIdentity.AccessKeyID, ReadOnly: e.ReadOnly,
		ErrorCode: e.ErrorCode, ErrorMessage: e.ErrorMessage, SourceIPAddress: e.SourceIPAddress, CloudTrailEvent: string(line)}
	if ev.Username == "" && e.UserIdentity.Type == "Root" {
		ev.Username = "root"
	}
	for _, r := range e.Resources {
		ev.Resources = append(ev.Resources, resource{ResourceName: r.ARN, ResourceType: r.Type})
	}
	for _, a := range in.LookupAttributes {
		var ok bool
		switch a.AttributeKey {
		case "EventType":
			ok = true
		case "EventId":
			ok = ev.EventID == a.AttributeValue
		case "EventName":
			ok = ev.EventName == a.AttributeValue
		case "EventSource":
			ok = ev.EventSource == a.AttributeValue
		case "Username":
			ok = ev.Username == a.AttributeValue || ev.PrincipalArn == a.AttributeValue
		case "AccessKeyId":
			ok = ev.AccessKeyID == a.AttributeValue
		case "ReadOnly":
			ok = strconv.FormatBool(ev.ReadOnly) == a.AttributeValue
		case "ErrorCode":
			ok = ev.ErrorCode == a.AttributeValue
		case "ResourceName":
			ok = slices.ContainsFunc(ev.Resources, func(r resource) bool { return r.ResourceName == a.AttributeValue })
		}
		if !ok {
			return event{}, false
		}
	}
	return ev, true
}

// backLines calls fn for each complete line (without its newline) that
// ends at or before end, newest first, with the offset where it starts,
// until fn returns false. Bytes after the last newline before end (a line
// being written) are left out.
func backLines(r io.ReaderAt, end int64, fn func(line []byte, start int64) bool) error {
	const chunk = 64 << 10
	pos := end
	var data []byte // bytes [pos, pos+len(data)); ends with '\n' once trimmed
	trimmed := false
	for {
		for trimmed && len(data) > 0 {
			body := data[:len(data)-1]
			j := bytes.LastIndexByte(body, '\n')
			if j < 0 && pos > 0 {
				break // this line starts in an earlier chunk
			}
			if !fn(body[j+1:], pos+int64(j+1)) {
				return nil
			}
			data = data[:j+1]
		}
		if pos == 0 {
			return nil
		}
		if len(data) > 2*audit.MaxLineBytes {
			return errors.New("auditapi: a line longer than any event: the log is damaged (run bulwark audit verify)")
		}
		n := min(int64(chunk), pos)
		pos -= n
		buf := make([]byte, n, int(n)+len(data))
		if _, err := r.ReadAt(buf, pos); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		data = append(buf, data...)
		if !trimmed {
			if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
				data, trimmed = data[:i+1], true
			}
		}
	}
}

type verifyOutput struct {
	Intact        bool           `json:"Intact"`
	Keyed         bool           `json:"Keyed"`
	Lines         int            `json:"Lines"`
	Files         int            `json:"Files"`
	MACVerified   int            `json:"MacVerified"`
	Checkpoints   int            `json:"Checkpoints"`
	Signed        int            `json:"SignedCheckpoints"`
	SignedThrough int            `json:"SignedThrough"`
	UnsignedTail  int            `json:"UnsignedTail"`
	Broken        *broken        `json:"Broken,omitempty"`
	CheckedAt     *awsproto.Time `json:"CheckedAt"`
}

type broken struct {
	File   string `json:"File"`
	Line   int    `json:"Line"`
	Reason string `json:"Reason"`
}

type verifyInput struct{}

func (s *Service) apiVerify(ctx context.Context, c *api.Call, _ *verifyInput) (*verifyOutput, error) {
	if err := c.Authorize(ctx, api.AuthzRequest{Action: "bulwark:VerifyAuditLog", Resource: s.arn(), Mode: policy.Standard, ResourceTags: map[string]string{}}); err != nil {
		return nil, err
	}
	release, err := acquire(ctx, s.verify)
	if err != nil {
		return nil, err
	}
	defer release()
	files := s.files()
	slices.Reverse(files) // oldest first
	rep, err := audit.VerifyFiles(files, audit.VerifyOptions{Keys: s.cfg.Keys})
	out := &verifyOutput{Keyed: len(s.cfg.Keys) > 0, Files: len(files), CheckedAt: awsproto.NewTime(time.Now())}
	if rep != nil {
		out.Lines, out.MACVerified, out.Checkpoints, out.Signed = rep.Lines, rep.MACVerified, rep.Checkpoints, rep.Signed
		out.SignedThrough, out.UnsignedTail = rep.SignedThrough, rep.UnsignedTail()
	}
	var be *audit.BrokenError
	switch {
	case errors.As(err, &be):
		out.Broken = &broken{File: filepath.Base(be.File), Line: be.Line, Reason: be.Reason}
	case err != nil:
		out.Broken = &broken{Reason: strings.TrimPrefix(err.Error(), "audit: ")}
	default:
		out.Intact = true
	}
	return out, nil
}
