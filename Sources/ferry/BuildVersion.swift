import FerryPeer

/// What `ferry --version` and `version` at the prompt print: the release number and the commit it was
/// built from (`BuildInfo`, written by the BuildInfo plugin; `-modified` when the checkout had
/// uncommitted changes, `unknown` outside a git checkout).
enum BuildVersion {
    static var text: String {
        "\(FerryVersion.number) (commit \(BuildInfo.commit))"
    }
}
