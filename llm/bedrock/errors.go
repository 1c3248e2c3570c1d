package bedrock

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go"
	smithyes "github.com/aws/smithy-go/eventstream"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/bulwark-ai/bulwark/llm"
	"github.com/bulwark-ai/bulwark/llm/upstream"
)

// apiError maps a failed SDK call to an *llm.Error: the context's end
// first, then Bedrock's exception (typed where the SDK models it, by code
// where it does not), then the transport.
func (c *Client) apiError(ctx context.Context, model string, err error) *llm.Error {
	if cerr := ctx.Err(); cerr != nil {
		return c.ctxError(model, cerr)
	}
	e := &llm.Error{Provider: c.name, Model: model, Err: err}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		e.Status = re.HTTPStatusCode()
		e.RetryAfter = retryAfter(re.Response.Header)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		e.Kind = exceptionKind(ae, e.Status)
		e.Code, e.Type, e.Message = ae.ErrorCode(), ae.ErrorCode(), ae.ErrorMessage()
		return e
	}
	var se *smithyhttp.RequestSendError
	var de *smithy.DeserializationError
	switch {
	case errors.As(err, &se):
		e.Kind, e.Message = llm.KindConnection, "could not reach Bedrock: "+upstream.Describe(se.Err)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			e.Kind = llm.KindTimeout
		}
	case errors.As(err, &de):
		e.Kind, e.Message = llm.KindServer, "malformed response: "+upstream.Describe(de.Err)
		if errors.Is(err, io.ErrUnexpectedEOF) || isConnError(err) {
			e.Kind, e.Message = llm.KindConnection, "the response ended early: "+upstream.Describe(de.Err)
		}
	case e.Status == 0 && isCredentialsError(err):
		e.Kind, e.Message = llm.KindAuth, "no AWS credentials: "+upstream.Describe(err)
	default:
		e.Kind, e.Message = llm.KindForStatus(e.Status), upstream.Describe(err)
		if e.Status == 0 {
			e.Kind = llm.KindUnknown
		}
	}
	return e
}

// exceptionKind maps one of Bedrock's exceptions.
func exceptionKind(ae smithy.APIError, status int) llm.Kind {
	switch ae.(type) {
	case *types.ThrottlingException, *types.ServiceQuotaExceededException:
		return llm.KindRateLimited
	case *types.ServiceUnavailableException, *types.ModelNotReadyException:
		return llm.KindOverloaded
	case *types.ModelTimeoutException:
		return llm.KindTimeout
	case *types.ValidationException:
		return validationKind(ae.ErrorMessage())
	case *types.AccessDeniedException:
		return llm.KindAuth
	case *types.ResourceNotFoundException:
		return llm.KindNotFound
	case *types.InternalServerException, *types.ModelStreamErrorException, *types.ModelErrorException:
		return llm.KindServer
	case *types.ConflictException:
		return llm.KindBadRequest
	}
	// Exceptions the SDK does not model (the service front end's).
	switch ae.ErrorCode() {
	case "ThrottlingException", "TooManyRequestsException":
		return llm.KindRateLimited
	case "ServiceUnavailableException", "ModelNotReadyException":
		return llm.KindOverloaded
	case "ModelTimeoutException", "RequestTimeout", "RequestTimeoutException":
		return llm.KindTimeout
	case "ValidationException":
		return validationKind(ae.ErrorMessage())
	case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
		"IncompleteSignature", "IncompleteSignatureException", "MissingAuthenticationToken",
		"MissingAuthenticationTokenException", "InvalidClientTokenId", "ExpiredTokenException",
		"ExpiredToken", "SignatureDoesNotMatch", "UnauthorizedException":
		return llm.KindAuth
	case "ResourceNotFoundException":
		return llm.KindNotFound
	case "InternalServerException", "InternalFailure", "ModelStreamErrorException", "ModelErrorException":
		return llm.KindServer
	}
	if status == 0 {
		return llm.KindUnknown
	}
	return llm.KindForStatus(status)
}

// validationKind tells apart the ValidationExceptions that are not plain
// bad requests: a prompt beyond the context window, and a model id Bedrock
// does not know (which it reports as invalid rather than not found).
func validationKind(msg string) llm.Kind {
	m := strings.ToLower(msg)
	for _, s := range []string{"too long", "too many input tokens", "too many tokens", "context length",
		"context window", "maximum context", "input length", "prompt is too long"} {
		if strings.Contains(m, s) {
			return llm.KindContextLength
		}
	}
	for _, s := range []string{"model identifier is invalid", "model not found", "model id is invalid"} {
		if strings.Contains(m, s) {
			return llm.KindNotFound
		}
	}
	return llm.KindBadRequest
}

// streamError maps the error that ended an event stream: an exception
// event, a frame that does not decode, or the connection.
func (c *Client) streamError(model string, err error) *llm.Error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return &llm.Error{
			Kind: exceptionKind(ae, 0), Code: ae.ErrorCode(), Type: ae.ErrorCode(), Message: ae.ErrorMessage(),
			Provider: c.name, Model: model, Err: err, Break: llm.BreakErrorEvent,
		}
	}
	e := &llm.Error{Kind: llm.KindStreamBroken, Status: http.StatusOK, Provider: c.name, Model: model, Err: err}
	if isConnError(err) {
		e.Break, e.Message = llm.BreakCut, "stream cut: "+err.Error()
		return e
	}
	e.Break, e.Message = llm.BreakMalformed, "malformed event stream: "+err.Error()
	return e
}

// isMalformed reports whether err is the event-stream decoder refusing a
// frame (a checksum or length that does not match).
func isMalformed(err error) bool {
	var ce smithyes.ChecksumError
	var le smithyes.LengthError
	return errors.As(err, &ce) || errors.As(err, &le)
}

// isConnError reports whether err is the connection failing under a read.
func isConnError(err error) bool {
	if isMalformed(err) {
		return false
	}
	var ne net.Error
	var oe *net.OpError
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "stream error") // an HTTP/2 stream reset
}

// isCredentialsError reports whether the call failed before it was sent
// because no credentials could be resolved. The SDK wraps that failure in
// its own words ("get identity", "failed to retrieve credentials") without
// a type of its own; the messages of its credential providers never hold
// a secret.
func isCredentialsError(err error) bool {
	m := err.Error()
	return strings.Contains(m, "get identity") || strings.Contains(m, "retrieve credentials") ||
		strings.Contains(m, "failed to refresh cached credentials")
}

// retryAfter reads Retry-After (seconds) or retry-after-ms, zero when
// absent.
func retryAfter(h http.Header) time.Duration {
	if ms, err := strconv.ParseInt(h.Get("Retry-After-Ms"), 10, 64); err == nil && ms > 0 {
		return time.Duration(ms) * time.Millisecond
	}
	if s, err := strconv.ParseFloat(h.Get("Retry-After"), 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	return 0
}

// ctxError is the error of a call whose context ended: KindTimeout on a
// deadline, KindCanceled otherwise.
func (c *Client) ctxError(model string, err error) *llm.Error {
	e := &llm.Error{Kind: llm.KindCanceled, Message: "the caller canceled the request", Provider: c.name, Model: model, Err: err}
	if errors.Is(err, context.DeadlineExceeded) {
		e.Kind, e.Message = llm.KindTimeout, "no answer before the deadline"
	}
	return e
}
