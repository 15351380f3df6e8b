package mongometa

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	assert.NoError(t, Config{URI: "mongodb://127.0.0.1:27117"}.Validate())
	err := Config{URI: "http://user:secret@host", Database: "a.b", CheckpointCollection: "system.x", Timeout: -1, MaxAttempts: -2}.Validate()
	require.Error(t, err)
	for _, want := range []string{"uri", "database", "checkpointCollection", "timeout", "maxAttempts"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NotContains(t, err.Error(), "secret", "passwords are never printed")
	c := Config{URI: "mongodb://x"}.WithDefaults()
	assert.Equal(t, "metadata", c.Database)
	assert.Equal(t, "__backbeat_checkpoints", c.CheckpointCollection)
	assert.Equal(t, "mongodb://u:***@h/db", RedactURI("mongodb://u:p@h/db"))
}
