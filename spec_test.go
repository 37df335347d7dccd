package groupsd

import (
	"encoding/json"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v4"
)

// The served JSON is the committed YAML and nothing else: both parse to the
// same value (the YAML through a generic decode, independent of the
// converter under test).
func TestOpenAPIJSONEqualsCommittedYAML(t *testing.T) {
	got, err := OpenAPIJSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON any
	if err := json.Unmarshal(got, &fromJSON); err != nil {
		t.Fatalf("served JSON does not parse: %v", err)
	}
	var fromYAML any
	if err := yaml.Unmarshal(OpenAPIYAML, &fromYAML); err != nil {
		t.Fatal(err)
	}
	want := jsonShape(t, fromYAML)
	if !reflect.DeepEqual(fromJSON, want) {
		t.Fatalf("served JSON differs from openapi.yaml")
	}
	// The defects this guards against: capitalized operationIds and
	// dropped `required: false`.
	paths := fromJSON.(map[string]any)["paths"].(map[string]any)
	if id := paths["/v2/groups"].(map[string]any)["get"].(map[string]any)["operationId"]; id != "listGroups" {
		t.Errorf("operationId = %v, want listGroups", id)
	}
}

// jsonShape maps a generic YAML value onto what encoding/json produces for
// the same document: string keys, float64 numbers.
func jsonShape(t *testing.T, v any) any {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = jsonShape(t, e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			ks, ok := k.(string)
			if !ok {
				b, _ := json.Marshal(k)
				ks = string(b)
			}
			out[ks] = jsonShape(t, e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = jsonShape(t, e)
		}
		return out
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case uint64:
		return float64(v)
	}
	return v
}
