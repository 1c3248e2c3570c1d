package bedrock

import (
	"os"
	"testing"

	"github.com/bulwark-ai/bulwark/leakcheck"
)

// TestMain makes the tests independent of the machine's AWS setup (its
// profile, region, CA bundle, credentials and instance metadata: every
// test gives its own), and fails the run when a goroutine of the provider
// or of the SDK's event streams outlives the tests: a stream that was not
// released.
func TestMain(m *testing.M) {
	for _, k := range []string{"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_CA_BUNDLE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_BEARER_TOKEN_BEDROCK", "AWS_ENDPOINT_URL",
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME"} {
		os.Unsetenv(k)
	}
	os.Setenv("AWS_CONFIG_FILE", os.DevNull)
	os.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	leakcheck.Main(m, "bulwark/llm/bedrock.", "service/bedrockruntime.")
}
