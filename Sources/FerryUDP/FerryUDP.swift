// Ferry's reliable UDP transport arrives with issue 4.
enum FerryUDPPlaceholder {}
