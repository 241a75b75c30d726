import NIOCore

extension UDPServerDemultiplexer {
    /// Handles an INITIAL of at least 1200 bytes: cookie check, request lookup, connection creation.
    mutating func receiveInitial(
        _ packet: UDPPacket,
        size: Int,
        from address: Address,
        at now: Instant
    ) -> ReceiveResult {
        let clientID = packet.header.sourceID
        guard clientID != .unset else {
            return .dropped(.unexpectedPacket)
        }
        let route = InitialRoute(address: address, clientID: clientID)
        if let id = self.initialRoutes[route] {
            return self.route(packet, size: size, to: id, from: address, at: now)
        }
        self.forgetExpiredClosures(at: now)
        guard self.recentlyClosed[route] == nil else {
            return .dropped(.closedConnection)
        }
        let addressBytes = address.cookieBytes
        guard
            let cookieAge = self.validator.validate(token: packet.header.token, addressBytes: addressBytes, clientID: clientID, at: now)
        else {
            let token = self.validator.makeToken(addressBytes: addressBytes, clientID: clientID, at: now)
            let retry = UDPPacket(
                header: UDPPacketHeader(type: .retry, destinationID: clientID, sourceID: .unset, token: token),
                frames: []
            )
            return .reply(retry.encoded(), to: address)
        }
        // The address is validated: from here on the server may answer freely, but it still keeps
        // no state unless it accepts the request.
        guard
            let request = packet.frames.lazy.compactMap({ frame -> UDPRequestFrame? in
                if case .request(let request) = frame { return request }
                return nil
            }).first
        else {
            return .dropped(.unexpectedPacket)
        }
        guard !self.isDraining else {
            return self.statelessClose(FerryUDPError(.busy, reason: "shutting down"), to: clientID, address: address)
        }
        guard self.slots.count < self.configuration.maximumConnections else {
            return self.statelessClose(FerryUDPError(.busy), to: clientID, address: address)
        }
        guard self.connectionsPerHost[address.hostBytes, default: 0] < self.configuration.maximumConnectionsPerAddress else {
            return self.statelessClose(
                FerryUDPError(.busy, reason: "\(self.configuration.maximumConnectionsPerAddress) transfers from your address"),
                to: clientID, address: address)
        }
        let source: any UDPFileSource
        switch self.provider.lookup(name: request.name) {
        case .success(let found):
            source = found
        case .failure(let error):
            return self.statelessClose(error, to: clientID, address: address)
        }
        let id = self.makeConnectionID()
        var machine: UDPSenderStateMachine<Instant>
        do {
            machine = try UDPSenderStateMachine(
                configuration: self.configuration.connection,
                localID: id,
                peerID: clientID,
                request: request,
                source: source,
                now: now
            )
            // The cookie left in a RETRY one round trip ago (plus any INITIAL the client had to
            // send again): the first RTT sample, unless it is no better than the initial guess.
            if cookieAge < self.configuration.connection.initialRTT {
                machine.seedRTT(cookieAge)
            }
        } catch {
            return self.statelessClose(error, to: clientID, address: address)
        }
        self.insertConnection(Connection(address: address, clientID: clientID, machine: machine), id: id)
        self.initialRoutes[route] = id
        self.events.append(.opened(id, address, request))
        return self.route(packet, size: size, to: id, from: address, at: now)
    }

    private func statelessClose(_ error: FerryUDPError, to clientID: UDPConnectionID, address: Address) -> ReceiveResult
    {
        let close = UDPPacket(
            header: UDPPacketHeader(type: .transfer, destinationID: clientID, sourceID: .unset, packetNumber: 0),
            frames: [.close(UDPCloseFrame(error))]
        )
        return .reply(close.encoded(), to: address)
    }

    private mutating func makeConnectionID() -> UDPConnectionID {
        while true {
            let id = UDPConnectionID.random(using: &self.generator)
            if self.slotIndex[id] == nil {
                return id
            }
        }
    }

    /// Remembers a finished attempt for a cookie lifetime (bounded by the connection limit).
    mutating func rememberClosed(_ route: InitialRoute, at now: Instant) {
        self.recentlyClosed[route] = now
        self.closedOrder.append((route, now))
        while self.closedOrder.count > self.configuration.maximumConnections, let oldest = self.closedOrder.popFirst() {
            if self.recentlyClosed[oldest.route] == oldest.closedAt {
                self.recentlyClosed[oldest.route] = nil
            }
        }
    }

    private mutating func forgetExpiredClosures(at now: Instant) {
        while let oldest = self.closedOrder.first,
            oldest.closedAt.advanced(by: self.configuration.cookieLifetime) <= now
        {
            self.closedOrder.removeFirst()
            if self.recentlyClosed[oldest.route] == oldest.closedAt {
                self.recentlyClosed[oldest.route] = nil
            }
        }
    }
}
