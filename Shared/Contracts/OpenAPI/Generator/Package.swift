// swift-tools-version:6.1
// The OpenAPI code generator, built on its own so that the service packages do not compile it:
// Shared/Contracts/OpenAPI/generate.sh runs it to (re)write the committed clients.
import PackageDescription

let package = Package(
    name: "passerelle-openapi-generator",
    dependencies: [
        .package(url: "https://github.com/apple/swift-openapi-generator.git", exact: "1.14.3")
    ]
)
