package provider_test

import "golang.org/x/oauth2/google/externalaccount"

func fakeSupplierOptions() externalaccount.SupplierOptions {
	return externalaccount.SupplierOptions{Audience: "audience", SubjectTokenType: "urn:ietf:params:oauth:token-type:jwt"}
}
