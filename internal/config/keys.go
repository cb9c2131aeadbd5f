package config

import (
	"errors"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Class is what wharf does with a key of distribution's configuration.
type Class int

const (
	// Implemented keys mean in wharf what they mean in distribution.
	Implemented Class = iota
	// Harmless keys configure something wharf does not need; they are
	// ignored with a warning that says why.
	Harmless
	// Refused keys ask for something wharf does not do and whose absence
	// would change where data lives, who gets in, whether the transport is
	// encrypted or what content is accepted; wharf does not start with
	// one set, and says what to do instead. A refused key set to nothing
	// (null, false, an empty string, list or mapping) asks for nothing and
	// is only warned about.
	Refused
)

// String names the class as `wharf config check` prints it.
func (c Class) String() string {
	switch c {
	case Harmless:
		return "harmless"
	case Refused:
		return "refused"
	}
	return "implemented"
}

// keyClass is the verdict on one key of distribution's configuration that
// wharf does not simply implement, with the reason shown to the user.
type keyClass struct {
	class Class
	why   string
	// same lists values of a refused key that ask for what wharf does
	// anyway (http.net: tcp), so they are accepted with a warning.
	same []string
}

// distributionKeys classifies every key of distribution's configuration
// (v2.8 and v3) that wharf does not implement. A section's entry covers
// every key under it unless a deeper entry says otherwise. Keys of
// distribution that wharf's Config has and that are absent here are
// implemented; keys in neither are unknown and warned about as typos.
//
// It is a function rather than a package variable so that the table is
// built where it is read and no package state exists.
func distributionKeys() map[string]keyClass {
	const (
		storageDriver = "a storage backend wharf does not have; use storage.filesystem, storage.s3 (any S3-compatible store), storage.azure or storage.gcs"
		notCache      = "wharf's metadata database answers blob lookups; no cache is needed"
		noMiddleware  = "wharf has no middleware plug-ins; storage.redirect covers presigned redirects"
		noReporting   = "error reporting services are not built in; wharf logs errors with request ids to stderr"
		s3Tuning      = "wharf sizes server-side copies itself"
		azureCopy     = "wharf commits blobs with a block list, no asynchronous copy to poll"
		notYet        = "not implemented yet; remove it or wait for it"
	)
	return map[string]keyClass{
		"loglevel":         {class: Harmless, why: "deprecated in distribution; wharf reads log.level"},
		"log.hooks":        {class: Harmless, why: "mail hooks are not built in; alert from your log collector instead"},
		"log.reportcaller": {class: Harmless, why: "wharf's log lines carry the request id instead of the caller"},
		"reporting":        {class: Harmless, why: noReporting},
		"redis":            {class: Harmless, why: "distribution caches blob descriptors in Redis; " + notCache},
		"storage.cache":    {class: Harmless, why: notCache},
		"storage.tag":      {class: Harmless, why: "tag lookups are single database queries; there is nothing to limit"},
		"storage.inmemory": {class: Refused, why: "keeps images in memory only and loses them on restart; use storage.filesystem (on a tmpfs for tests)"},
		"storage.azure.copy_status_poll_max_retry": {class: Harmless, why: azureCopy},
		"storage.azure.copy_status_poll_delay":     {class: Harmless, why: azureCopy},
		"storage.azure.connectionstring":           {class: Refused, why: "set accountname, accountkey and serviceurl (or realm) instead of a connection string"},
		"storage.gcs.maxconcurrency":               {class: Harmless, why: "wharf bounds GCS requests by its own requests"},
		"storage.swift":                            {class: Refused, why: storageDriver + "; distribution v3 dropped Swift too"},
		"storage.oss":                              {class: Refused, why: storageDriver + "; Alibaba OSS speaks S3: use storage.s3 with its regionendpoint"},
		"storage.filesystem.maxthreads":            {class: Harmless, why: "wharf bounds filesystem work by its requests, not a thread pool"},
		"storage.s3.v4auth":                        {class: Harmless, why: "wharf always signs with AWS Signature Version 4"},
		"storage.s3.accelerate":                    {class: Harmless, why: "wharf talks to the regional endpoint; S3 Transfer Acceleration is not used"},
		"storage.s3.usedualstack":                  {class: Harmless, why: "the endpoint's DNS decides IPv4 or IPv6"},
		"storage.s3.loglevel":                      {class: Harmless, why: "wharf logs failed S3 requests itself"},
		"storage.s3.multipartcopychunksize":        {class: Harmless, why: s3Tuning},
		"storage.s3.multipartcopymaxconcurrency":   {class: Harmless, why: s3Tuning},
		"storage.s3.multipartcopythresholdsize":    {class: Harmless, why: s3Tuning},
		"storage.s3.encrypt":                       {class: Refused, why: "server-side encryption is not requested by wharf; enable default encryption on the bucket instead"},
		"storage.s3.keyid":                         {class: Refused, why: "KMS keys are not passed by wharf; set the bucket's default encryption key instead"},
		"storage.s3.objectacl":                     {class: Refused, why: "wharf's objects take the bucket's default ACL; set it on the bucket instead", same: []string{"private"}},
		"storage.s3.sessiontoken":                  {class: Refused, why: "temporary credentials are read from AWS_SESSION_TOKEN, not the config"},
		"auth.silly":                               {class: Refused, why: "silly auth lets any client in; use auth.htpasswd"},
		"auth.token.autoredirect":                  {class: Harmless, why: "wharf announces auth.token.realm as configured"},
		"auth.token.signingalgorithms":             {class: Refused, why: "wharf accepts the RS, ES, PS and EdDSA families; remove the list or wait for it to be supported"},
		"middleware":                               {class: Refused, why: noMiddleware},
		"http.net":                                 {class: Refused, why: "wharf listens on TCP only; remove http.net or set it to tcp", same: []string{"tcp"}},
		"http.secret":                              {class: Harmless, why: "wharf keeps upload state in its database, so there is nothing to sign"},
		"http.host":                                {class: Harmless, why: "wharf's Location headers are relative to the request, which stays right behind any proxy"},
		"http.relativeurls":                        {class: Harmless, why: "wharf's Location headers are always relative"},
		"http.letsencrypt":                         {class: Refused, why: "distribution reads Let's Encrypt settings under http.tls.letsencrypt; move the section there"},
		"compatibility":                            {class: Harmless, why: "schema1 manifests are refused by wharf, as by distribution v3"},
		"compatibility.schema1.enabled":            {class: Refused, why: "wharf never accepts schema1 manifests; remove it"},
		"validation.enabled":                       {class: Harmless, why: "wharf always validates manifests"},
		"policy":                                   {class: Refused, why: "repository class policies are not implemented; restrict pushes with access rules instead"},
		"catalog":                                  {class: Harmless, why: "wharf pages the catalog itself (1,000 names by default, at most 10,000 per request)"},
	}
}

// classify returns the verdict on a dotted key of distribution's
// configuration from the deepest entry of the table that covers it, and
// that entry's key.
func classify(path string) (keyClass, string, bool) {
	table := distributionKeys()
	for p := path; ; {
		if c, ok := table[p]; ok {
			return c, p, true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return keyClass{}, "", false
		}
		p = p[:i]
	}
}

// KeyVerdict is one key a configuration set, and what wharf makes of it.
type KeyVerdict struct {
	Key   string
	Class Class
	// Why is the reason for a harmless or refused key.
	Why string
}

// Keys lists the keys the configuration file and REGISTRY_* variables set,
// in the order they were read, each with its class: what `wharf config
// check` prints. Sections wharf implements are listed by their keys.
func (c *Config) Keys() []KeyVerdict { return c.keys }

// asksNothing reports whether a value leaves a feature off: null, false,
// zero, an empty string, list or mapping, or a mapping of such values.
func asksNothing(n *yaml.Node) bool {
	n = resolveAlias(n)
	switch {
	case isNull(n):
		return true
	case n.Kind == yaml.ScalarNode:
		switch strings.ToLower(n.Value) {
		case "", "false", "0", "no", "off":
			return true
		}
		return false
	case n.Kind == yaml.SequenceNode:
		return len(n.Content) == 0
	case n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			if !asksNothing(n.Content[i]) {
				return false
			}
		}
		return true
	}
	return false
}

// refusedUnder finds the first key at or under path, whose value is n,
// that the table refuses and that asks for something. It returns the
// table entry's key and verdict.
func refusedUnder(n *yaml.Node, path string) (string, keyClass, bool) {
	n = resolveAlias(n)
	if asksNothing(n) {
		return "", keyClass{}, false
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if key, c, ok := refusedUnder(n.Content[i+1], joinPath(path, n.Content[i].Value)); ok {
				return key, c, true
			}
		}
		return "", keyClass{}, false
	}
	if c, key, ok := classify(path); ok && c.class == Refused && !c.asksSame(n) {
		return key, c, true
	}
	return "", keyClass{}, false
}

// asksSame reports whether a scalar value asks for what wharf does anyway.
func (c keyClass) asksSame(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && slices.Contains(c.same, strings.ToLower(n.Value))
}

// validateHonoured refuses values of keys Config accepts that wharf cannot
// honour yet: a path prefix would need every Location and Link header
// rewritten.
func (c *Config) validateHonoured(add func(key string, err error)) {
	if p := c.HTTP.Prefix; p != "" && p != "/" {
		add("http.prefix", errors.New("refused: wharf serves the API at the root; map the prefix in your reverse proxy instead"))
	}
}
