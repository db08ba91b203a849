package postgres

import "testing"

func TestOneRoundTrip_TurnsOnBinaryParametersUnlessSet(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u@h:5432/db?sslmode=disable":                      "postgres://u@h:5432/db?binary_parameters=yes&sslmode=disable",
		"postgresql://u@h/db":                                         "postgresql://u@h/db?binary_parameters=yes",
		"host=h user=u dbname=db":                                     "host=h user=u dbname=db binary_parameters=yes",
		"postgres://u@h/db?binary_parameters=no":                      "postgres://u@h/db?binary_parameters=no",
		"postgres://u:p%40ss@h/db?options=-c%20role%3Dtaskflow_owner": "postgres://u:p%40ss@h/db?binary_parameters=yes&options=-c+role%3Dtaskflow_owner",
	} {
		if got := oneRoundTrip(in); got != want {
			t.Errorf("oneRoundTrip(%q) = %q, want %q", in, got, want)
		}
	}
}
