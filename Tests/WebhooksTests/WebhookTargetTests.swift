import Testing

@testable import Webhooks

@Suite struct WebhookTargetTests {
    @Test(arguments: [
        // IPv4
        ("8.8.8.8", AddressScope.public), ("0.0.0.0", .unspecified), ("0.1.2.3", .thisNetwork), ("127.0.0.1", .loopback), ("127.255.0.9", .loopback),
        ("10.1.2.3", .private), ("172.16.0.1", .private), ("172.31.255.255", .private), ("172.32.0.1", .public), ("192.168.0.10", .private),
        ("169.254.169.254", .linkLocal), ("169.254.1.1", .linkLocal), ("100.64.0.1", .sharedAddressSpace), ("100.127.255.255", .sharedAddressSpace),
        ("100.128.0.1", .public), ("100.100.100.200", .cloudMetadata), ("224.0.0.1", .multicast), ("239.255.255.250", .multicast),
        ("240.0.0.1", .reserved), ("255.255.255.255", .reserved),
        // IPv6
        ("2001:4860:4860::8888", .public), ("::", .unspecified), ("::1", .loopback), ("0:0:0:0:0:0:0:1", .loopback), ("::2", .reserved),
        ("::7f00:1", .reserved), ("fe80::1", .linkLocal), ("fe80::1%eth0", .linkLocal), ("febf:ffff::1", .linkLocal), ("fec0::1", .uniqueLocal),
        ("fc00::1", .uniqueLocal), ("fd12:3456:789a::1", .uniqueLocal), ("fd00:ec2::254", .cloudMetadata), ("ff02::1", .multicast),
        ("FE80::ABCD", .linkLocal),
        // IPv4 inside IPv6: mapped (in either notation) and NAT64 are what the IPv4 address is.
        ("::ffff:169.254.169.254", .linkLocal), ("::ffff:a9fe:a9fe", .linkLocal), ("::ffff:127.0.0.1", .loopback), ("::ffff:10.0.0.1", .private),
        ("::ffff:100.100.100.200", .cloudMetadata), ("::ffff:8.8.8.8", .public), ("64:ff9b::169.254.169.254", .linkLocal), ("64:ff9b::8.8.8.8", .public),
    ])
    func addressesFallInTheirScope(text: String, scope: AddressScope) throws {
        let address = try #require(IPAddress(text))
        #expect(address.scope == scope, "\(text)")
    }

    @Test func addressesAreWrittenCanonically() throws {
        #expect(try #require(IPAddress("0:0:0:0:0:ffff:a9fe:a9fe")).description == "::ffff:169.254.169.254")
        #expect(try #require(IPAddress("FE80:0::1%eth0")).description == "fe80::1")
        #expect(IPAddress("not an address") == nil)
        #expect(IPAddress("300.1.1.1") == nil)
    }

    @Test func eachReachKeepsOutItsScopes() {
        for scope in AddressScope.allCases {
            #expect(WebhookReach.anywhere.permits(scope))
            #expect(WebhookReach.publicInternet.permits(scope) == (scope == .public), "\(scope)")
            #expect(WebhookReach.organisationNetwork.permits(scope) == ![.linkLocal, .cloudMetadata, .unspecified].contains(scope), "\(scope)")
        }
    }

    @Test func thePublicInternetIsReachedOverHTTPSOnly() async {
        let policy = WebhookTargetPolicy(reach: .publicInternet)
        await #expect(throws: WebhookTargetRefusal.notHTTPS) { try await policy.check("http://8.8.8.8/hook") }
        await #expect(throws: WebhookTargetRefusal.notHTTP) { try await policy.check("ftp://8.8.8.8/hook") }
        await #expect(throws: WebhookTargetRefusal.notHTTP) { try await policy.check("/relative/hook") }
        await #expect(throws: Never.self) { try await policy.check("https://8.8.8.8/hook") }
        for (url, scope) in [
            ("https://127.0.0.1/", AddressScope.loopback), ("https://[::1]/", .loopback), ("https://[::ffff:127.0.0.1]/", .loopback),
            ("https://[fd12::1]/", .uniqueLocal), ("https://[fe80::1]/", .linkLocal), ("https://10.0.0.1/", .private),
            ("https://[::ffff:a9fe:a9fe]/latest/meta-data", .linkLocal), ("https://100.100.100.200/", .cloudMetadata),
        ] {
            do {
                try await policy.check(url)
                Issue.record("\(url) was accepted")
            } catch {
                guard case .outOfReach(_, _, let found, .publicInternet) = error else {
                    Issue.record("\(url): \(error)")
                    continue
                }
                #expect(found == scope, "\(url)")
            }
        }
        // Every address a name resolves to counts (localhost is 127.0.0.1 and maybe ::1).
        #expect(await policy.problem(with: "https://localhost/hook")?.hasSuffix("a loopback, private, link-local or metadata address") == true)
    }

    @Test func theOrganisationNetworkIsReachableButNotMetadata() async {
        let policy = WebhookTargetPolicy(reach: .organisationNetwork)
        for url in ["http://127.0.0.1:9/hook", "http://10.0.0.1/hook", "http://[fd12::1]/hook", "https://localhost/hook", "http://[::1]/"] {
            #expect(await policy.problem(with: url) == nil, "\(url)")
        }
        for url in [
            "http://169.254.169.254/latest", "http://[fe80::1]/hook", "http://[::ffff:169.254.169.254]/", "http://[fd00:ec2::254]/", "http://0.0.0.0/",
            "http://[::]/",
        ] {
            #expect(await policy.problem(with: url)?.hasSuffix("a link-local or metadata address") == true, "\(url)")
        }
    }

    @Test func queriesStayOutOfErrors() {
        // Receivers sometimes take a token in the query; failures are logged and stored.
        #expect(HTTPDelivery.redacted("https://ehr.example.org/hook?token=secret") == "https://ehr.example.org/hook")
    }

    @Test func anywhereStillMeansHTTP() async {
        let policy = WebhookTargetPolicy(reach: .anywhere)
        #expect(await policy.problem(with: "http://169.254.169.254/") == nil)
        #expect(await policy.problem(with: "ftp://example.org/") == "must be an absolute http or https URL")
    }
}
