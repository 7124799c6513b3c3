/*
 * schema_file: encode, check, write and read index schema files. See schema_file.h and
 * docs/format/schema.md.
 */
#include "common/schema_file.h"

#include "common/schema_pb.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* CRC-32 of `len` bytes. */
static uint32_t crc_of(const uint8_t *p, size_t len)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)len);
}

int schema_file_encode(const schema_t *s, const limits_t *limits, uint8_t **out, size_t *len)
{
    Bitdex__V1__IndexSchema *pb;
    uint8_t *buf;
    size_t n;
    int rc;

    *out = NULL;
    *len = 0;
    if ((rc = schema_pb_from_schema(s, limits, &pb)) != 0)
        return rc;
    n = bitdex__v1__index_schema__get_packed_size(pb);
    buf = malloc(SCHEMA_FILE_HEADER_SIZE + n + SCHEMA_FILE_CRC_SIZE);
    if (buf == NULL) {
        schema_pb_free(pb);
        return -ENOMEM;
    }
    bitdex__v1__index_schema__pack(pb, buf + SCHEMA_FILE_HEADER_SIZE);
    schema_pb_free(pb);
    memcpy(buf, SCHEMA_FILE_MAGIC, 8);
    put_u32(buf + 8, SCHEMA_FILE_VERSION);
    put_u32(buf + 12, (uint32_t)n);
    put_u32(buf + 16, 0); /* reserved */
    put_u32(buf + SCHEMA_FILE_HEADER_SIZE + n, crc_of(buf, SCHEMA_FILE_HEADER_SIZE + n));
    *out = buf;
    *len = SCHEMA_FILE_HEADER_SIZE + n + SCHEMA_FILE_CRC_SIZE;
    return 0;
}

int schema_file_decode(const char *what, const char *index, const uint8_t *buf, size_t len,
                       schema_t **out, limits_t *limits, bdx_error_t *err)
{
    const size_t fixed = SCHEMA_FILE_HEADER_SIZE + SCHEMA_FILE_CRC_SIZE;
    Bitdex__V1__IndexSchema *pb;
    bdx_error_t e = {0};
    uint32_t version, plen, stored, computed;
    int rc;

    *out = NULL;
    /* The order matters: the CRC is checked before the version is believed, so a flipped bit
     * in the version field is corruption, not a "future version". */
    if (len < fixed)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "%s: truncated: %zu bytes, shorter than the %zu of an empty schema "
                             "file (offset %zu)",
                             what, len, fixed, len);
    if (memcmp(buf, SCHEMA_FILE_MAGIC, 8) != 0)
        return bdx_error_set(err, BDX_ECORRUPT, "%s: bad magic at offset 0 (want \"BDXSCH\\r\\n\")",
                             what);
    plen = get_u32(buf + 12);
    if (plen > SCHEMA_FILE_MAX_PAYLOAD)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "%s: payload length %u at offset 12 exceeds the maximum %u", what,
                             plen, SCHEMA_FILE_MAX_PAYLOAD);
    if ((size_t)plen != len - fixed)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "%s: payload length %u at offset 12 does not match the file size "
                             "%zu (want %zu)",
                             what, plen, len, (size_t)plen + fixed);
    stored = get_u32(buf + SCHEMA_FILE_HEADER_SIZE + plen);
    computed = crc_of(buf, SCHEMA_FILE_HEADER_SIZE + plen);
    if (stored != computed)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "%s: CRC mismatch at offset %u (stored %08x, computed %08x)", what,
                             SCHEMA_FILE_HEADER_SIZE + plen, stored, computed);
    version = get_u32(buf + 8);
    if (version > SCHEMA_FILE_VERSION)
        return bdx_error_set(err, BDX_EVERSION,
                             "%s: format version %u at offset 8, this build reads version %u; "
                             "upgrade bitdex",
                             what, version, SCHEMA_FILE_VERSION);
    if (version == 0)
        return bdx_error_set(err, BDX_ECORRUPT, "%s: format version 0 at offset 8 is invalid",
                             what);
    pb = bitdex__v1__index_schema__unpack(NULL, plen, buf + SCHEMA_FILE_HEADER_SIZE);
    if (pb == NULL)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "%s: payload at offset %u does not decode as an IndexSchema", what,
                             SCHEMA_FILE_HEADER_SIZE);
    rc = schema_pb_to_schema(index, pb, out, limits, &e);
    bitdex__v1__index_schema__free_unpacked(pb, NULL);
    if (rc == -ENOMEM)
        return bdx_error_set(err, rc, "out of memory");
    if (rc != 0)
        return bdx_error_set(err, BDX_ECORRUPT,
                             "%s: payload at offset %u is not a valid schema: %s", what,
                             SCHEMA_FILE_HEADER_SIZE, bdx_error_message(&e));
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/*
 * Durability order (a crash between any two steps leaves either no `schema` or the old one,
 * never a partial file):
 *   1. write the whole image to <dir>/schema.tmp (created or truncated);
 *   2. fsync schema.tmp, so its bytes are on disk before any name points at them;
 *   3. rename schema.tmp -> schema (atomic replace within the directory);
 *   4. fsync <dir>, so the rename itself survives a crash.
 * On failure schema.tmp is removed (best effort); `schema` is untouched before step 3.
 */
int schema_file_write(const char *dir, const schema_t *s, const limits_t *limits, bdx_error_t *err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    uint8_t *buf = NULL;
    size_t len;
    const char *step = "encode";
    bool renamed = false;
    int fd = -1, rc;

    if (snprintf(path, sizeof(path), "%s/%s", dir, SCHEMA_FILE_NAME) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s/%s", dir, SCHEMA_FILE_TMP_NAME) >= (int)sizeof(tmp))
        return bdx_error_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    if ((rc = schema_file_encode(s, limits, &buf, &len)) != 0)
        goto out;
    step = "create";
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    step = "write"; /* 1 */
    if ((rc = write_all(fd, buf, len)) != 0)
        goto out;
    step = "fsync"; /* 2 */
    if (fsync(fd) != 0) {
        rc = -errno;
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = -errno;
        goto out;
    }
    fd = -1;
    step = "rename"; /* 3 */
    if (rename(tmp, path) != 0) {
        rc = -errno;
        goto out;
    }
    renamed = true;
    step = "fsync"; /* 4 */
    if ((rc = fsync_dir(dir)) != 0)
        goto out;
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0) {
        if (!renamed)
            unlink(tmp);
        bdx_error_set(err, rc, "%s: %s failed: %s", renamed ? dir : tmp, step, bdx_strerror(rc));
    }
    free(buf);
    return rc;
}

int schema_file_read(const char *dir, const char *index, schema_t **out, limits_t *limits,
                     bdx_error_t *err)
{
    char path[PATH_MAX];
    uint8_t *buf = NULL;
    struct stat st;
    size_t got = 0;
    int fd, rc = 0;

    *out = NULL;
    if (snprintf(path, sizeof(path), "%s/%s", dir, SCHEMA_FILE_NAME) >= (int)sizeof(path))
        return bdx_error_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        return bdx_error_set(err, rc, "%s: cannot open: %s", path, bdx_strerror(rc));
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        bdx_error_set(err, rc, "%s: cannot stat: %s", path, bdx_strerror(rc));
        goto out;
    }
    /* A file larger than any valid one is reported by decode from its header alone. */
    if ((uint64_t)st.st_size >
        SCHEMA_FILE_HEADER_SIZE + SCHEMA_FILE_CRC_SIZE + (uint64_t)SCHEMA_FILE_MAX_PAYLOAD)
        st.st_size =
            SCHEMA_FILE_HEADER_SIZE + SCHEMA_FILE_CRC_SIZE + (off_t)SCHEMA_FILE_MAX_PAYLOAD + 1;
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        rc = bdx_error_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            bdx_error_set(err, rc, "%s: cannot read: %s", path, bdx_strerror(rc));
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    rc = schema_file_decode(path, index, buf, got, out, limits, err);
out:
    close(fd);
    free(buf);
    return rc;
}
