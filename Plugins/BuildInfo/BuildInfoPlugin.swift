import Foundation
import PackagePlugin

/// Writes `BuildInfo.swift` (the checkout's commit, `ferry --version` shows it) before each build of
/// the target it is applied to. It runs git through `/bin/sh` on every build, which costs a few
/// milliseconds; the file is rewritten only when the commit changed, so nothing recompiles otherwise.
/// Outside a git checkout (a source archive), or without git, the commit is `unknown`.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildInfo")
        let file = output.appending(path: "BuildInfo.swift").path
        let package = context.package.directoryURL.path
        let script = """
            PATH="$PATH:/usr/local/bin:/usr/bin:/bin"
            mkdir -p "$1"
            commit=$(git -C "$2" rev-parse --short=12 HEAD 2>/dev/null) || commit=unknown
            if [ "$commit" != unknown ] && ! git -C "$2" diff --quiet HEAD 2>/dev/null; then commit="$commit-modified"; fi
            printf '/// Written by the BuildInfo plugin at build time.\\nenum BuildInfo {\\n    static let commit = "%s"\\n}\\n' "$commit" > "$3.new"
            if cmp -s "$3.new" "$3"; then rm -f "$3.new"; else mv "$3.new" "$3"; fi
            """
        return [.prebuildCommand(
            displayName: "BuildInfo: the checkout's commit",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", script, "build-info", output.path, package, file],
            outputFilesDirectory: output)]
    }
}
