/// Ferry's version, as `ferry --version` and `version` at the prompt show it.
public enum FerryVersion {
    public static let number = "0.9.0"
}
