/// An error a command reports to the user: ArgumentParser prints `Error: <message>` and exits with 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
