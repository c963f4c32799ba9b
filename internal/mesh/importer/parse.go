package importer

import (
	"fmt"
)

// Format is the kind of input file.
type Format string

// The input formats; FormatAuto decides per file.
const (
	FormatAuto           Format = ""
	FormatCloudFormation Format = "cloudformation"
	FormatKubernetes     Format = "kubernetes"
)

// Detect says whether data is a CloudFormation template (a single
// document with Resources or AWSTemplateFormatVersion at the top) or
// Kubernetes manifests.
func Detect(data []byte) Format {
	docs, err := decodeDocuments(data, true)
	if err == nil && len(docs) == 1 {
		if m, ok := docs[0].(map[string]any); ok {
			_, res := m["Resources"]
			_, ver := m["AWSTemplateFormatVersion"]
			if res || ver {
				return FormatCloudFormation
			}
		}
	}
	return FormatKubernetes
}

// ParseFiles reads every file (in format, or each in its detected format
// for FormatAuto) and returns the resources in creation order. Kubernetes
// references resolve across all the Kubernetes files given.
func ParseFiles(files []File, format Format, opt Options) ([]Resource, error) {
	var all []Resource
	var k8s []File
	for _, f := range files {
		ff := format
		if ff == FormatAuto {
			ff = Detect(f.Data)
		}
		switch ff {
		case FormatCloudFormation:
			rs, err := ParseCloudFormation(f.Name, f.Data, opt)
			if err != nil {
				return nil, err
			}
			all = append(all, rs...)
		case FormatKubernetes:
			k8s = append(k8s, f)
		default:
			return nil, fmt.Errorf("unknown format %q (cloudformation or kubernetes)", ff)
		}
	}
	if len(k8s) > 0 {
		rs, err := ParseKubernetes(k8s, opt)
		if err != nil {
			return nil, err
		}
		all = append(all, rs...)
	}
	return Order(all)
}
