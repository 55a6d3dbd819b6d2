import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Which part of the network an address belongs to, as far as sending a webhook there goes.
public enum AddressScope: String, Sendable, CaseIterable {
    /// Anything not listed below.
    case `public`
    /// 0.0.0.0 and `::`: a connection to them reaches this machine.
    case unspecified
    /// The rest of 0.0.0.0/8.
    case thisNetwork
    /// 127.0.0.0/8 and `::1`.
    case loopback
    /// 10.0.0.0/8, 172.16.0.0/12 and 192.168.0.0/16.
    case `private`
    /// 100.64.0.0/10, carrier-grade NAT.
    case sharedAddressSpace
    /// 169.254.0.0/16 (where most clouds answer metadata requests, at 169.254.169.254) and fe80::/10.
    case linkLocal
    /// Cloud metadata services outside the link-local ranges: Alibaba's 100.100.100.200 and
    /// AWS's fd00:ec2::/32.
    case cloudMetadata
    /// fc00::/7, IPv6's private addresses, and fec0::/10, the site-local ones they replaced.
    case uniqueLocal
    /// 224.0.0.0/4 and ff00::/8.
    case multicast
    /// 240.0.0.0/4 (with the broadcast address) and the deprecated IPv4-compatible ::/96.
    case reserved
}

/// An IPv4 or IPv6 address, kept as its bytes so that its scope is decided by numbers, whatever
/// way it was written.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6, in network order.
    public let bytes: [UInt8]

    /// Parses dotted IPv4 or any IPv6 notation; an IPv6 zone (`%eth0`) is dropped.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(text.prefix { $0 != "%" }), &v6) == 1 else { return nil }
        bytes = withUnsafeBytes(of: &v6) { Array($0) }
    }

    init(bytes: [UInt8]) { self.bytes = bytes }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        guard inet_ntop(family, bytes, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var scope: AddressScope {
        bytes.count == 4 ? Self.scope(ofIPv4: bytes[...]) : Self.scope(ofIPv6: bytes)
    }

    private static func scope(ofIPv4 b: ArraySlice<UInt8>) -> AddressScope {
        let b = Array(b)
        if b == [0, 0, 0, 0] { return .unspecified }
        if b == [100, 100, 100, 200] { return .cloudMetadata }
        switch (b[0], b[1]) {
        case (0, _): return .thisNetwork
        case (10, _), (172, 16...31), (192, 168): return .private
        case (127, _): return .loopback
        case (169, 254): return .linkLocal
        case (100, 64...127): return .sharedAddressSpace
        case (192, 0) where b[2] == 0: return .reserved  // 192.0.0.0/24, IETF protocol assignments
        case (198, 18...19): return .private  // 198.18.0.0/15, benchmarking networks inside organisations
        case (224...239, _): return .multicast
        case (240...255, _): return .reserved
        default: return .public
        }
    }

    private static func scope(ofIPv6 b: [UInt8]) -> AddressScope {
        let zeros = b[0..<10].allSatisfy { $0 == 0 }
        // ::ffff:a.b.c.d reaches a.b.c.d, and so does 64:ff9b::a.b.c.d where a NAT64 gateway
        // translates: both are what the IPv4 address is.
        if zeros && b[10] == 0xff && b[11] == 0xff { return scope(ofIPv4: b[12..<16]) }
        if b[0..<12] == [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0] { return scope(ofIPv4: b[12..<16]) }
        // 6to4 (2002:a.b.c.d::/48) relays to a.b.c.d; 64:ff9b:1::/48 is NAT64 for local use only.
        if b[0] == 0x20 && b[1] == 0x02 { return scope(ofIPv4: b[2..<6]) }
        if b[0..<6] == [0, 0x64, 0xff, 0x9b, 0, 0x01] { return .private }
        if b[0..<15].allSatisfy({ $0 == 0 }) {
            switch b[15] {
            case 0: return .unspecified
            case 1: return .loopback
            default: return .reserved
            }
        }
        if zeros && b[10] == 0 && b[11] == 0 { return .reserved }  // ::a.b.c.d, IPv4-compatible
        if b[0] == 0xfd && b[1] == 0x00 && b[2] == 0x0e && b[3] == 0xc2 { return .cloudMetadata }
        if b[0] & 0xfe == 0xfc { return .uniqueLocal }
        if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { return .linkLocal }
        if b[0] == 0xfe && b[1] & 0xc0 == 0xc0 { return .uniqueLocal }  // fec0::/10 site-local
        if b[0] == 0xff { return .multicast }
        return .public
    }

    /// The addresses `host` resolves to (itself when it is an address); none when it does not.
    /// `getaddrinfo` blocks, maybe on a DNS server, so it runs on NIO's blocking-work pool and
    /// never holds a thread of the cooperative pool that a service's tasks share.
    public static func resolving(_ host: String) async -> [IPAddress] {
        (try? await NIOThreadPool.singleton.runIfActive { resolvingNow(host) }) ?? []
    }

    static func resolvingNow(_ host: String) -> [IPAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(first) }
        var addresses: [IPAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            cursor = info.pointee.ai_next
            guard let socketAddress = UnsafeRawPointer(info.pointee.ai_addr) else { continue }
            switch info.pointee.ai_family {
            case AF_INET:
                let address = socketAddress.loadUnaligned(as: sockaddr_in.self)
                addresses.append(IPAddress(bytes: withUnsafeBytes(of: address.sin_addr) { Array($0) }))
            case AF_INET6:
                let address = socketAddress.loadUnaligned(as: sockaddr_in6.self)
                addresses.append(IPAddress(bytes: withUnsafeBytes(of: address.sin6_addr) { Array($0) }))
            default:
                continue  // only IP addresses can be reached over HTTP
            }
        }
        return addresses
    }
}
