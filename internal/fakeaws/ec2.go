package fakeaws

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Instance is an EC2 instance as the fake reports it.
type Instance struct {
	ID                string
	ImageID           string
	InstanceType      string
	State             string // "running" (default), "stopped", …
	PrivateIP         string
	PrivateDNS        string
	PublicIP          string
	PublicDNS         string
	AvailabilityZone  string
	SubnetID          string
	VPCID             string
	Platform          string // "windows" or ""
	Architecture      string
	Lifecycle         string // "spot", "scheduled" or ""
	OwnerID           string // default: the fake's account
	ReservationID     string // default: derived from ID
	Tags              []Tag
	NetworkInterfaces []NetworkInterface
}

// Tag is an EC2 tag.
type Tag struct{ Key, Value string }

// NetworkInterface is an instance's ENI.
type NetworkInterface struct {
	SubnetID string
	// DeviceIndex is the attachment's device index; nil means unattached.
	DeviceIndex *int32
	IPv6        []IPv6Address
}

// IPv6Address is one IPv6 address of an ENI.
type IPv6Address struct {
	Address string
	Primary bool
}

// AvailabilityZone maps a zone name to its zone ID.
type AvailabilityZone struct{ Name, ID string }

// SetInstances replaces the instances DescribeInstances reports.
func (f *AWS) SetInstances(in []Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instances = append([]Instance(nil), in...)
}

// SetAvailabilityZones replaces the zones DescribeAvailabilityZones reports.
func (f *AWS) SetAvailabilityZones(z []AvailabilityZone) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.zones = append([]AvailabilityZone(nil), z...)
}

// EC2Call is one accepted DescribeInstances request.
type EC2Call struct {
	Params      url.Values
	AccessKeyID string
	// Returned is how many instances the page held; FirstPage is true for
	// a request without NextToken (the start of a listing).
	Returned  int
	FirstPage bool
	At        time.Time
}

// EC2Calls returns every accepted DescribeInstances request, in order.
func (f *AWS) EC2Calls() []EC2Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]EC2Call(nil), f.ec2Calls...)
}

func defaultZones(region string) []AvailabilityZone {
	short := regionShort(region)
	var z []AvailabilityZone
	for i, s := range []string{"a", "b", "c"} {
		z = append(z, AvailabilityZone{Name: region + s, ID: short + "-az" + strconv.Itoa(i+1)})
	}
	return z
}

// regionShort abbreviates a region the way zone IDs do (us-east-1 → use1).
func regionShort(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return "fake"
	}
	dir := parts[1]
	abbrev := map[string]string{"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
		"northeast": "ne", "southeast": "se", "northwest": "nw", "southwest": "sw"}
	if a, ok := abbrev[dir]; ok {
		dir = a
	}
	return parts[0] + dir + parts[2]
}

// serveEC2 implements the EC2 Query API: DescribeInstances (paginated,
// filtered) and DescribeAvailabilityZones.
func (f *AWS) serveEC2(w http.ResponseWriter, r *http.Request) {
	reqID := f.nextRequestID()
	fail := func(e *Error) {
		f.store.reject(e)
		writeError(w, protoEC2, e, reqID)
	}
	ver, form, action, ok := f.queryRequest(r, "ec2", fail, func(k *Key, action string) *Error {
		return &Error{Status: 403, Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation. User: " +
			k.Principal + " is not authorized to perform: ec2:" + action}
	})
	if !ok {
		return
	}
	switch action {
	case "DescribeInstances":
		f.describeInstances(w, form, ver.key, reqID, fail)
	case "DescribeAvailabilityZones":
		f.store.accept("ec2:DescribeAvailabilityZones", ver.key)
		f.describeAZs(w, reqID)
	default:
		fail(&Error{Status: 400, Code: "InvalidAction", Message: "The action " + action + " is not valid for this web service."})
	}
}

type ec2Filter struct {
	name   string
	values []string
}

// parseFilters reads Filter.N.Name / Filter.N.Value.M.
func parseFilters(form url.Values) ([]ec2Filter, *Error) {
	byIdx := map[int]*ec2Filter{}
	for k, v := range form {
		rest, ok := strings.CutPrefix(k, "Filter.")
		if !ok || len(v) == 0 {
			continue
		}
		idxStr, field, _ := strings.Cut(rest, ".")
		idx, err := strconv.Atoi(idxStr)
		if err != nil {
			return nil, &Error{Status: 400, Code: "InvalidParameterValue", Message: "bad filter parameter " + k}
		}
		fl := byIdx[idx]
		if fl == nil {
			fl = &ec2Filter{}
			byIdx[idx] = fl
		}
		switch {
		case field == "Name":
			fl.name = v[0]
		case strings.HasPrefix(field, "Value."):
			fl.values = append(fl.values, v[0])
		}
	}
	var out []ec2Filter
	for _, fl := range byIdx {
		if fl.name == "" {
			return nil, &Error{Status: 400, Code: "InvalidParameterValue", Message: "a filter has no Name"}
		}
		if len(fl.values) == 0 {
			return nil, &Error{Status: 400, Code: "InvalidParameterCombination", Message: "The filter '" + fl.name + "' has no values"}
		}
		out = append(out, *fl)
	}
	return out, nil
}

// instanceField returns the value(s) filter name selects on inst, and
// whether the filter is supported.
func instanceField(inst Instance, name string) ([]string, bool) {
	if key, ok := strings.CutPrefix(name, "tag:"); ok {
		for _, t := range inst.Tags {
			if t.Key == key {
				return []string{t.Value}, true
			}
		}
		return nil, true
	}
	switch name {
	case "tag-key":
		var keys []string
		for _, t := range inst.Tags {
			keys = append(keys, t.Key)
		}
		return keys, true
	case "instance-state-name":
		return []string{stateOf(inst)}, true
	case "instance-id":
		return []string{inst.ID}, true
	case "instance-type":
		return []string{inst.InstanceType}, true
	case "availability-zone":
		return []string{inst.AvailabilityZone}, true
	case "vpc-id":
		return []string{inst.VPCID}, true
	case "subnet-id":
		return []string{inst.SubnetID}, true
	case "private-ip-address":
		return []string{inst.PrivateIP}, true
	case "image-id":
		return []string{inst.ImageID}, true
	}
	return nil, false
}

func stateOf(inst Instance) string {
	if inst.State == "" {
		return "running"
	}
	return inst.State
}

// wildcardMatch implements EC2's filter wildcards: * any run, ? one character.
func wildcardMatch(pattern, s string) bool {
	// path.Match treats '/', '[' and '\\' specially; EC2 does not, so escape them.
	var b strings.Builder
	for _, c := range pattern {
		switch c {
		case '[', ']', '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case '/':
			b.WriteRune('\x00')
		default:
			b.WriteRune(c)
		}
	}
	ok, err := path.Match(b.String(), strings.ReplaceAll(s, "/", "\x00"))
	return err == nil && ok
}

func (f *AWS) describeInstances(w http.ResponseWriter, form url.Values, caller *Key, reqID string, fail func(*Error)) {
	filters, ferr := parseFilters(form)
	if ferr != nil {
		fail(ferr)
		return
	}
	var ids []string
	for k, v := range form {
		if strings.HasPrefix(k, "InstanceId.") && len(v) > 0 {
			ids = append(ids, v[0])
		}
	}
	pageSize := f.opts.EC2PageSize
	if mr := form.Get("MaxResults"); mr != "" {
		n, err := strconv.Atoi(mr)
		if err != nil || n < 1 || n > 1000 {
			fail(&Error{Status: 400, Code: "InvalidParameterValue", Message: "Value (" + mr + ") for parameter maxResults is invalid."})
			return
		}
		pageSize = n
	}
	offset := 0
	if tok := form.Get("NextToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		n, aerr := strconv.Atoi(strings.TrimPrefix(string(raw), "offset:"))
		if err != nil || aerr != nil || !strings.HasPrefix(string(raw), "offset:") || n < 0 {
			fail(&Error{Status: 400, Code: "InvalidParameterValue", Message: "Invalid value '" + tok + "' for nextToken"})
			return
		}
		offset = n
	}

	f.mu.Lock()
	all := append([]Instance(nil), f.instances...)
	f.mu.Unlock()
	var matched []Instance
	for _, inst := range all {
		if len(ids) > 0 && !slices.Contains(ids, inst.ID) {
			continue
		}
		keep := true
		for _, fl := range filters {
			vals, ok := instanceField(inst, fl.name)
			if !ok {
				fail(&Error{Status: 400, Code: "InvalidParameterValue", Message: "The filter '" + fl.name + "' is invalid"})
				return
			}
			any := false
			for _, want := range fl.values {
				for _, have := range vals {
					if wildcardMatch(want, have) {
						any = true
					}
				}
			}
			if !any {
				keep = false
				break
			}
		}
		if keep {
			matched = append(matched, inst)
		}
	}
	if offset > len(matched) {
		offset = len(matched)
	}
	end := offset + pageSize
	if end > len(matched) {
		end = len(matched)
	}
	page := matched[offset:end]
	next := ""
	if end < len(matched) {
		next = base64.RawURLEncoding.EncodeToString([]byte("offset:" + strconv.Itoa(end)))
	}

	f.mu.Lock()
	f.ec2Calls = append(f.ec2Calls, EC2Call{Params: form, AccessKeyID: caller.AccessKeyID, Returned: len(page),
		FirstPage: form.Get("NextToken") == "", At: f.opts.Now()})
	f.mu.Unlock()
	f.store.accept("ec2:DescribeInstances", caller)

	// One reservation per instance unless they share a ReservationID.
	var reservations []xmlReservation
	index := map[string]int{}
	for _, inst := range page {
		rid := inst.ReservationID
		if rid == "" {
			rid = "r-" + strings.TrimPrefix(inst.ID, "i-")
		}
		owner := inst.OwnerID
		if owner == "" {
			owner = f.opts.Account
		}
		i, ok := index[rid]
		if !ok {
			i = len(reservations)
			index[rid] = i
			reservations = append(reservations, xmlReservation{ReservationID: rid, OwnerID: owner})
		}
		reservations[i].Instances = append(reservations[i].Instances, toXMLInstance(inst))
	}
	type resp struct {
		XMLName      xml.Name         `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeInstancesResponse"`
		RequestID    string           `xml:"requestId"`
		Reservations []xmlReservation `xml:"reservationSet>item"`
		NextToken    string           `xml:"nextToken,omitempty"`
	}
	writeXML(w, 200, resp{RequestID: reqID, Reservations: reservations, NextToken: next})
}

func (f *AWS) describeAZs(w http.ResponseWriter, reqID string) {
	f.mu.Lock()
	zones := append([]AvailabilityZone(nil), f.zones...)
	f.mu.Unlock()
	sort.Slice(zones, func(i, j int) bool { return zones[i].Name < zones[j].Name })
	type zone struct {
		ZoneName   string `xml:"zoneName"`
		ZoneID     string `xml:"zoneId"`
		ZoneState  string `xml:"zoneState"`
		RegionName string `xml:"regionName"`
		ZoneType   string `xml:"zoneType"`
	}
	type resp struct {
		XMLName   xml.Name `xml:"http://ec2.amazonaws.com/doc/2016-11-15/ DescribeAvailabilityZonesResponse"`
		RequestID string   `xml:"requestId"`
		Zones     []zone   `xml:"availabilityZoneInfo>item"`
	}
	out := resp{RequestID: reqID}
	for _, z := range zones {
		out.Zones = append(out.Zones, zone{z.Name, z.ID, "available", f.opts.Region, "availability-zone"})
	}
	writeXML(w, 200, out)
}

type xmlReservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []xmlInstance `xml:"instancesSet>item"`
}

type xmlInstance struct {
	InstanceID string `xml:"instanceId"`
	ImageID    string `xml:"imageId,omitempty"`
	State      struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	} `xml:"instanceState"`
	PrivateDNSName    string   `xml:"privateDnsName,omitempty"`
	DNSName           string   `xml:"dnsName,omitempty"`
	InstanceType      string   `xml:"instanceType"`
	Placement         *xmlAZ   `xml:"placement,omitempty"`
	Platform          string   `xml:"platform,omitempty"`
	SubnetID          string   `xml:"subnetId,omitempty"`
	VPCID             string   `xml:"vpcId,omitempty"`
	PrivateIP         string   `xml:"privateIpAddress,omitempty"`
	PublicIP          string   `xml:"ipAddress,omitempty"`
	Architecture      string   `xml:"architecture,omitempty"`
	InstanceLifecycle string   `xml:"instanceLifecycle,omitempty"`
	ENIs              []xmlENI `xml:"networkInterfaceSet>item"`
	Tags              []xmlTag `xml:"tagSet>item"`
}

type xmlAZ struct {
	AvailabilityZone string `xml:"availabilityZone"`
}

type xmlENI struct {
	SubnetID   string        `xml:"subnetId,omitempty"`
	Attachment *xmlAttach    `xml:"attachment,omitempty"`
	IPv6       []xmlIPv6Addr `xml:"ipv6AddressesSet>item"`
}

type xmlAttach struct {
	DeviceIndex int32 `xml:"deviceIndex"`
}

type xmlIPv6Addr struct {
	Address   string `xml:"ipv6Address"`
	IsPrimary bool   `xml:"isPrimaryIpv6"`
}

type xmlTag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

var stateCodes = map[string]int{"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80}

func toXMLInstance(inst Instance) xmlInstance {
	x := xmlInstance{
		InstanceID:        inst.ID,
		ImageID:           inst.ImageID,
		PrivateDNSName:    inst.PrivateDNS,
		DNSName:           inst.PublicDNS,
		InstanceType:      inst.InstanceType,
		Platform:          inst.Platform,
		SubnetID:          inst.SubnetID,
		VPCID:             inst.VPCID,
		PrivateIP:         inst.PrivateIP,
		PublicIP:          inst.PublicIP,
		Architecture:      inst.Architecture,
		InstanceLifecycle: inst.Lifecycle,
	}
	x.State.Name = stateOf(inst)
	x.State.Code = stateCodes[x.State.Name]
	if inst.AvailabilityZone != "" {
		x.Placement = &xmlAZ{inst.AvailabilityZone}
	}
	for _, n := range inst.NetworkInterfaces {
		e := xmlENI{SubnetID: n.SubnetID}
		if n.DeviceIndex != nil {
			e.Attachment = &xmlAttach{*n.DeviceIndex}
		}
		for _, a := range n.IPv6 {
			e.IPv6 = append(e.IPv6, xmlIPv6Addr{a.Address, a.Primary})
		}
		x.ENIs = append(x.ENIs, e)
	}
	for _, t := range inst.Tags {
		x.Tags = append(x.Tags, xmlTag(t))
	}
	return x
}
