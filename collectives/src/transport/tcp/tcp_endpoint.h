// How the TCP bootstrap writes and reads a rank's listening address ("host:port", "[v6]:port")
// as published in the job's store, and names the remote end of a socket in messages.
// Thread: any.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "kolo/base/status.h"

namespace kolo::tcp {

std::string formatEndpoint(const boost::asio::ip::address& address, unsigned short port);
// The socket's peer as "host:port", or "an unknown endpoint".
std::string remoteName(const boost::asio::ip::tcp::socket& socket);
// `text` as rank `peer` published it; an error names the rank and what is wrong.
Expected<boost::asio::ip::tcp::endpoint> parseEndpoint(const std::string& text, int peer);

}  // namespace kolo::tcp
