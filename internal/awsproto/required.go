package awsproto

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// CheckRequired validates the members of a decoded input struct that carry
// the tag `required:"true"`: a nil pointer, nil slice or map, or empty
// string is missing. The error is AWS's ValidationException text, naming
// every missing member, e.g.
//
//	1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null
func CheckRequired(v any) error {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil
	}
	var missing []string
	for _, f := range requiredFields(rv.Type()) {
		fv := rv.Field(f.index)
		if isMissing(fv) {
			missing = append(missing, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", f.name))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	noun := "error"
	if len(missing) > 1 {
		noun = "errors"
	}
	return Validation("%d validation %s detected: %s", len(missing), noun, strings.Join(missing, "; "))
}

type reqField struct {
	index int
	name  string
}

var requiredCache sync.Map // reflect.Type -> []reqField

func requiredFields(t reflect.Type) []reqField {
	if cached, ok := requiredCache.Load(t); ok {
		return cached.([]reqField)
	}
	var fields []reqField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Tag.Get("required") != "true" {
			continue
		}
		name := strings.Split(sf.Tag.Get("json"), ",")[0]
		if name == "" {
			name = sf.Name
		}
		// AWS names members in lower camel case in validation messages.
		fields = append(fields, reqField{index: i, name: strings.ToLower(name[:1]) + name[1:]})
	}
	requiredCache.Store(t, fields)
	return fields
}

func isMissing(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
		return v.IsNil()
	case reflect.String:
		return v.Len() == 0
	}
	return false
}
