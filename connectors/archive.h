// Rebuilds past Kafka's retention (SPEC §13): the archive Kafka Connect's S3 sink writes, read
// as a Source in front of Kafka.
//
// The layout is the sink's default partitioner: `topics/TOPIC/partition=P/TOPIC+P+START.json`
// under the archive's root, one message value per line, offsets consecutive from START. An
// archive is a folder (`file:///DIR`) or an S3 bucket and prefix (`s3://BUCKET/PREFIX`).
//
// ArchiveSource wraps the Kafka source of a view: the partitions whose next offset lies below
// the topic's log start (the first offset Kafka still has) are read from the archive first, in
// offset order, with the next object fetched while the current one is applied; then Kafka takes
// over each partition at the offset after the archive's last one (an archive that overlaps Kafka
// is fine: every offset is delivered once). An archive that cannot be read, or that ends before
// Kafka begins, holds the view (SourceStatus::held, with the reason) and never skips an event.
#ifndef PROJD_CONNECTORS_ARCHIVE_H_
#define PROJD_CONNECTORS_ARCHIVE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "connectors/source.h"

namespace projd {

class Archive {
 public:
  virtual ~Archive() = default;
  struct Object {
    std::string name;   // the object's key (S3) or path (file), for reading and messages
    int64_t start = 0;  // the offset of its first line
    uint64_t size = 0;
  };
  // The objects of one partition, by start offset. false with *error when the archive cannot
  // be listed (an empty list is fine: nothing archived).
  virtual bool List(const std::string& topic, int32_t partition, std::vector<Object>* out,
                    std::string* error) = 0;
  virtual bool Read(const Object& object, std::string* body, std::string* error) = 0;
  // "file:///DIR" or "s3://BUCKET/PREFIX", for messages.
  virtual const std::string& url() const = 0;
  // A new client for another thread (clients are not thread-safe).
  virtual std::unique_ptr<Archive> Clone() const = 0;
};

// Opens `url` (file:///DIR or s3://BUCKET/PREFIX; s3_endpoint for S3-compatible servers,
// credentials and region from the AWS_* environment). false-y (nullptr) with *error on a bad
// URL or missing credentials.
std::unique_ptr<Archive> OpenArchive(const std::string& url, const std::string& s3_endpoint,
                                     std::string* error);

// The offsets of an object's lines: its start plus the number of lines (a last line without a
// newline counts; an empty object holds none).
int64_t ArchiveObjectEnd(const Archive::Object& object, const std::string& body);

// Where the archive and Kafka together leave offsets [from, to) of a partition missing, for a
// view starting at offset 0 when Kafka's log starts at `log_start`: false with *error when the
// archive cannot be read; *missing_from == *missing_to when nothing is missing.
bool ArchiveGap(Archive* archive, const std::string& topic, int32_t partition, int64_t log_start,
                int64_t* missing_from, int64_t* missing_to, std::string* error);

// The first offset Kafka still has of each partition of a topic (QueryWatermarks' low
// watermarks), for ArchiveSource.
using LogStarts = std::function<bool(const std::string& topic,
                                     std::map<int32_t, PartitionInfo>* marks, std::string* error)>;

// Wraps `kafka` (started only once the archive is read); owns both. Offsets that neither the
// archive nor Kafka holds hold the view (the archive is listed again at each try) unless
// `pass_holes` (a rebuild asked for with allow_gap): then they are passed.
std::unique_ptr<Source> NewArchiveSource(std::unique_ptr<Source> kafka,
                                         std::unique_ptr<Archive> archive, LogStarts log_starts,
                                         bool pass_holes);

}  // namespace projd

#endif  // PROJD_CONNECTORS_ARCHIVE_H_
