package renewer

import (
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// CertStatus is what the renewer last did for one certificate.
type CertStatus struct {
	CertificateARN string    `json:"certificateArn"`
	SecretPrefixes []string  `json:"secretPrefixes"`
	Serial         string    `json:"serial,omitempty"`
	NotAfter       time.Time `json:"notAfter,omitzero"`
	LastChecked    time.Time `json:"lastChecked,omitzero"`
	LastTrigger    string    `json:"lastTrigger,omitempty"`
	LastAction     Action    `json:"lastAction,omitempty"`
	LastRenewed    time.Time `json:"lastRenewed,omitzero"`
	Renewals       int       `json:"renewals"`
	Exports        int       `json:"exports"`
	// Deferred counts renewals a guard rail held back (LastGuard says which).
	Deferred  int    `json:"deferred"`
	LastGuard string `json:"lastGuard,omitempty"`
	LastError string `json:"lastError,omitempty"`
}

// EventCounts count deliveries.
type EventCounts struct {
	Received     int `json:"received"`
	Duplicates   int `json:"duplicates"`
	Ignored      int `json:"ignored"`
	Failed       int `json:"failed"`
	Unauthorized int `json:"unauthorized"`
}

// Status is the renewer's report, served at GET /status.
type Status struct {
	Certificates  []CertStatus `json:"certificates"`
	Events        EventCounts  `json:"events"`
	LastReconcile time.Time    `json:"lastReconcile,omitzero"`
}

// Status returns a snapshot of what the renewer did.
func (r *Renewer) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Status{Events: r.counts, LastReconcile: r.lastRc}
	for _, arn := range r.arns {
		st.Certificates = append(st.Certificates, *r.status[arn])
	}
	return st
}

func (r *Renewer) record(res *Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.status[res.CertificateARN]
	cs.LastChecked, cs.LastTrigger, cs.LastAction = r.cfg.Clock.Now(), res.Trigger, res.Action
	cs.LastError = res.Error
	if res.Serial != "" {
		cs.Serial, cs.NotAfter = res.Serial, res.NotAfter
	}
	if res.Action == ActionRenewed {
		cs.Renewals++
		cs.LastRenewed = cs.LastChecked
	}
	cs.Exports += len(res.Exported)
	if res.Guard != "" {
		cs.Deferred++
		cs.LastGuard = res.Guard
	}
}

func (r *Renewer) count(f func(*EventCounts)) {
	r.mu.Lock()
	f(&r.counts)
	r.mu.Unlock()
}

// bindingsFile is the --bindings file: YAML (or JSON)
//
//	bindings:
//	  - certificateArn: arn:aws:acm:us-east-1:111122223333:certificate/…
//	    secretPrefixes: [colorgateway]
type bindingsFile struct {
	Bindings []Binding `yaml:"bindings"`
}

// LoadBindings reads a bindings file.
func LoadBindings(path string) ([]Binding, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f bindingsFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, err
	}
	return f.Bindings, nil
}
